"""Session fixtures: one real detector, and one real scrub run over the annotated files.

Both are expensive (model load, OCR on every frame), so they are built once per test session.
"""
from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest

from .util import ANNOTATIONS, SAMPLE, TRUTH, data_path


@pytest.fixture(scope="session")
def detector():
    """The real default detector (DB for words and lines, CRAFT for lone marks), the same instance
    the single-process runner uses."""
    from scrubber.detect.ocr import default_threads
    from scrubber.detect.registry import detector_for
    from scrubber.policy import Policy

    return detector_for(Policy(device="cpu"), default_threads(1))


@dataclass
class Run:
    inputs: Path
    output: Path
    qa: Path
    exit_code: int
    stdout: str
    stderr: str
    truth: dict  # file name -> truth entry


def annotated_truth() -> dict:
    """Truth for the sample data and for our annotations of real pydicom / pydicom-data files."""
    truth = dict(json.loads(TRUTH.read_text())["files"])
    for path in sorted(ANNOTATIONS.glob("*.json")):
        truth[f"{path.stem}.dcm"] = json.loads(path.read_text())
    return truth


@pytest.fixture(scope="session")
def annotated_run(tmp_path_factory, detector) -> Run:
    """`scrubber run` (the CLI, in process, real detector) over every annotated file."""
    import contextlib
    import io

    from scrubber.cli import main

    root = tmp_path_factory.mktemp("e2e")
    inputs = root / "in"
    inputs.mkdir()
    truth = annotated_truth()
    for name in truth:
        source = SAMPLE / name if (SAMPLE / name).exists() else data_path(name)
        shutil.copy(source, inputs / name)
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(["run", str(inputs), "-o", str(root / "out"), "--qa", str(root / "qa"), "--device", "cpu"])
    return Run(inputs, root / "out", root / "qa", code, out.getvalue(), err.getvalue(), truth)


@pytest.fixture(autouse=True)
def _fresh_layout_memory(monkeypatch):
    """Each test starts with no layouts seen: what one test scrubbed must not change another's
    result (series reuse is tested on purpose in test_layouts.py)."""
    import scrubber.detect.layouts as layouts

    monkeypatch.setattr(layouts, "_memory", layouts.LayoutMemory())
