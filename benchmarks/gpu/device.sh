#!/usr/bin/env bash
# Runs on the device machine, in the repository, after every part of benchmarks/gpu/pack.sh has
# been copied to /tmp/kit by earlier calls (this call's own part too):
#   bash benchmarks/gpu/device.sh [SECTIONS]     (suite sections, default speed,series)
#   bash benchmarks/gpu/device.sh --install-only (then: export PYTHONPATH=/tmp/site SCRUBBER_MODEL_DIR=/tmp/models)
# Installs the carried wheels and scrubber itself into /tmp/site (the image's torch, onnxruntime,
# opencv and scipy stay), then measures on the GPU (the annotated set first: DB and CRAFT on the
# card must remove what they remove on the CPU); the results JSON and the logs go to $OUT.
set -euo pipefail
cd "$(dirname "$0")/../.."
SECTIONS=${1:-speed,series}
PYTHON=${PYTHON:-python3}
OUT=${OUT:-/tmp/out}
mkdir -p "$OUT" /tmp/kit/stage /tmp/site /tmp/models
cat /tmp/kit/part-* | tar -x -C /tmp/kit/stage
$PYTHON -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target /tmp/site /tmp/kit/stage/wheels/*.whl
cp -r /tmp/kit/stage/site/easyocr_en_models /tmp/site/
$PYTHON -m pip install -q --no-index --no-deps --no-build-isolation --no-compile --upgrade --target /tmp/site .
cp /tmp/kit/stage/testdata/*.dcm /tmp/site/pydicom/data/test_files/
rm -rf /tmp/kit/stage
[ "$SECTIONS" = --install-only ] && exit 0
export PYTHONPATH=/tmp/site SCRUBBER_MODEL_DIR=/tmp/models PYTHONUNBUFFERED=1
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv | tee "$OUT/gpu.txt"
$PYTHON -c "import torch, scrubber; print('torch', torch.__version__, torch.cuda.is_available())" | tee -a "$OUT/gpu.txt"
$PYTHON benchmarks/accuracy.py --set device="'cuda'" --json "$OUT/accuracy-cuda.json" 2>&1 | tail -3 | tee "$OUT/accuracy.log"
$PYTHON benchmarks/db_engines.py --device cuda --json "$OUT/db-engines-cuda.json" 2>&1 | tee "$OUT/db-engines.log"
$PYTHON benchmarks/detection.py --device cuda --series 100 --json "$OUT/detection-cuda.json" 2>&1 | tee "$OUT/detection.log"
$PYTHON benchmarks/suite.py --device cuda --no-presidio --sections "$SECTIONS" --json "$OUT/suite-cuda.json" \
  2>&1 | tee "$OUT/suite.log"
