"""Run Presidio's DicomImageRedactorEngine over files, the way its documentation shows, and time it.

Runs inside Presidio's own venv (presidio_setup.sh), never imports scrubber:

    PY presidio_redact.py --jobs JOBS.json --results RESULTS.json [--mode phi|all-text] [--launched EPOCH]

JOBS.json is a list of {"src": path, "dst": path}. Each file is read with pydicom, redacted with
``redact_and_return_bbox(ds, fill="contrast", padding_width=25, use_metadata=True)`` (Presidio's
defaults) and saved to ``dst``. ``--mode all-text`` adds an ad-hoc recognizer that matches every
word, so every text that Tesseract reads is redacted: Presidio's best case for recall, and the
same goal as scrubber's default policy. A file that raises is not delivered; its reason is the
exception's type and first line. RESULTS.json holds per-file seconds and boxes, the engine's load
time and, with ``--launched`` (the parent's time.time() at launch), the cold start to the first file.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from importlib import metadata
from pathlib import Path


def engine(blank_model: Path):
    """The redactor on a blank spaCy pipeline (no NER model can be installed from PyPI)."""
    from presidio_analyzer import AnalyzerEngine
    from presidio_analyzer.nlp_engine import SpacyNlpEngine
    from presidio_image_redactor import DicomImageRedactorEngine, ImageAnalyzerEngine

    nlp = SpacyNlpEngine(models=[{"lang_code": "en", "model_name": str(blank_model)}])
    analyzer = AnalyzerEngine(nlp_engine=nlp, supported_languages=["en"])
    return DicomImageRedactorEngine(image_analyzer_engine=ImageAnalyzerEngine(analyzer_engine=analyzer))


def every_word():
    from presidio_analyzer import Pattern, PatternRecognizer

    return PatternRecognizer(supported_entity="TEXT", patterns=[Pattern("any word", r"\S+", 0.9)])


def reason(exc: BaseException) -> str:
    first = (str(exc).strip().splitlines() or [""])[0]
    return f"{type(exc).__name__}: {first[:160]}".rstrip(": ")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", required=True)
    parser.add_argument("--results", required=True)
    parser.add_argument("--mode", choices=("phi", "all-text"), default="phi")
    parser.add_argument("--launched", type=float)
    args = parser.parse_args()
    import pydicom

    started = time.perf_counter()
    redactor = engine(Path(sys.prefix) / "spacy-blank-en")
    load_s = time.perf_counter() - started
    extra = {"ad_hoc_recognizers": [every_word()]} if args.mode == "all-text" else {}
    rows, first_done = [], None
    for job in json.loads(Path(args.jobs).read_text()):
        clock = time.perf_counter()
        row = {"src": job["src"], "dst": job["dst"], "delivered": False, "reason": "", "boxes": 0, "frames": 0}
        try:
            ds = pydicom.dcmread(job["src"])
            row["frames"] = int(getattr(ds, "NumberOfFrames", 1) or 1)
            out, boxes = redactor.redact_and_return_bbox(ds, fill="contrast", padding_width=25,
                                                         use_metadata=True, **extra)
            Path(job["dst"]).parent.mkdir(parents=True, exist_ok=True)
            out.save_as(job["dst"])
            row.update(delivered=True, boxes=len(boxes))
        except Exception as exc:  # every failure is a result: the file was not delivered
            row["reason"] = reason(exc)
        row["seconds"] = round(time.perf_counter() - clock, 4)
        if first_done is None:
            first_done = time.time()
        rows.append(row)
    result = {
        "mode": args.mode, "load_s": round(load_s, 3),
        "cold_first_file_s": round(first_done - args.launched, 3) if args.launched and first_done else None,
        "tesseract_threads": os.environ.get("OMP_THREAD_LIMIT", "default"),
        "versions": {p: metadata.version(p) for p in ("presidio-image-redactor", "presidio-analyzer",
                                                      "pytesseract", "spacy", "pydicom")},
        "files": rows,
    }
    Path(args.results).write_text(json.dumps(result, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
