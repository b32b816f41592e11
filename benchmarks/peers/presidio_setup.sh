#!/usr/bin/env bash
# Presidio's DICOM image redactor in a venv of its own (default benchmarks/.peers/presidio), with
# Debian's tesseract-ocr and the same pixel decoders scrubber has, so both read the same files.
# spaCy's English models are published on GitHub, not on PyPI: this machine cannot install one, so
# Presidio's NLP engine is a blank English pipeline (no named-entity model). Its header-value
# matching (use_metadata) and pattern recognizers still work; the "all-text" mode of
# presidio_redact.py does not depend on NLP at all.
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
dest="${PRESIDIO_VENV:-$here/.peers/presidio}"
if ! command -v tesseract >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ]; then
    export DEBIAN_FRONTEND=noninteractive
    { apt-get install -y -qq tesseract-ocr || { apt-get update -qq && apt-get install -y -qq tesseract-ocr; }; } >/dev/null
  else
    echo "presidio_setup: tesseract-ocr is missing; install it (apt-get install tesseract-ocr)" >&2
    exit 1
  fi
fi
[ -x "$dest/bin/python" ] || python3 -m venv "$dest"
"$dest/bin/pip" install -q presidio-image-redactor==0.0.62 presidio-analyzer==2.2.366 spacy==3.8.18 \
  pydicom==3.0.2 pylibjpeg pylibjpeg-libjpeg pylibjpeg-openjpeg pylibjpeg-rle pyjpegls
[ -d "$dest/spacy-blank-en" ] || "$dest/bin/python" -c "import spacy, sys; spacy.blank('en').to_disk(sys.argv[1])" "$dest/spacy-blank-en"
echo "$dest"
