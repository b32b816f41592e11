"""The ONNX backend of the CRAFT detector: export, verification, same boxes as torch, no torch needed;
its 8-bit model: the same boxes as the float32 one on the closer looks at real images' marks.

The model and its 8-bit twin are made once per session in a temporary SCRUBBER_MODEL_DIR (about 15 s).
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pydicom
import pytest

from scrubber.detect import models
from scrubber.detect.craft_post import det_boxes, prepare
from scrubber.detect.models import CRAFT_ONNX, MODEL_DIR_ENV, ModelError, int8_path, sidecar
from scrubber.pixels import render
from scrubber.pixels.decode import decode
from scrubber.policy import Policy

from .util import ROOT, SAMPLE, data_path

THREADS = 2
BLOCKED = ("torch", "torchvision", "easyocr", "onnx")


def frame(path: Path, index: int = 0) -> np.ndarray:
    """Frame ``index`` of a DICOM file as the detector sees it (scrubber's "full" rendering)."""
    ds = pydicom.dcmread(path)
    return render.full(decode(ds, Policy().max_samples), ds)[index]


@pytest.fixture(scope="session")
def onnx_model(tmp_path_factory) -> Path:
    """The ONNX model, exported on first use into a fresh SCRUBBER_MODEL_DIR (kept for the session)."""
    from scrubber.detect.onnx_craft import ensure_model

    folder = tmp_path_factory.mktemp("models")
    before = os.environ.get(MODEL_DIR_ENV)
    os.environ[MODEL_DIR_ENV] = str(folder)
    try:
        path = ensure_model()  # missing, torch is here: exported now, and its 8-bit model beside it
        assert path == folder / CRAFT_ONNX and sidecar(path).is_file()
        assert ensure_model(quantized=True) == int8_path(path) and sidecar(int8_path(path)).is_file()
        yield path
    finally:
        if before is None:
            os.environ.pop(MODEL_DIR_ENV, None)
        else:
            os.environ[MODEL_DIR_ENV] = before


@pytest.fixture(scope="session")
def onnx_detector(onnx_model):
    from scrubber.detect.onnx_craft import OnnxCraftDetector

    return OnnxCraftDetector(THREADS, min_long_side=Policy().min_long_side)


@pytest.fixture(scope="session")
def int8_detector(onnx_model):
    from scrubber.detect.onnx_craft import OnnxCraftDetector

    return OnnxCraftDetector(THREADS, min_long_side=Policy().min_long_side, quantized=True)


@pytest.fixture(scope="session")
def torch_detector():
    from scrubber.detect.ocr import CraftDetector

    return CraftDetector("cpu", THREADS, min_long_side=Policy().min_long_side)


@pytest.fixture(scope="session")
def us1() -> np.ndarray:
    return frame(data_path("US1_UNCR.dcm"))


def test_export_writes_metadata_and_is_deterministic(onnx_model, tmp_path):
    import onnx

    from scrubber.models.export_onnx import export

    model = onnx.load(str(onnx_model), load_external_data=False)
    meta = {p.key: p.value for p in model.metadata_props}
    assert meta[models.META_SOURCE] == "craft_mlt_25k.pth"
    assert meta[models.META_SOURCE_SHA256] == models.manifest()["craft_mlt_25k.pth"]["sha256"]
    assert meta["scrubber.opset"] == "17" and meta["scrubber.version.torch"] != "unknown"
    assert [i.name for i in model.graph.input] == ["image"] and [o.name for o in model.graph.output] == ["scores"]
    assert sidecar(onnx_model).read_text().split() == [models.sha256(onnx_model), CRAFT_ONNX]
    again, digest = export(tmp_path / "again.onnx")  # the explicit export command's code path
    assert digest == models.sha256(onnx_model) and again.read_bytes() == onnx_model.read_bytes()
    assert int8_path(again).read_bytes() == int8_path(onnx_model).read_bytes()  # the same calibration, drawn here
    assert sorted(p.name for p in tmp_path.iterdir()) == [  # no temp left
        "again.int8.onnx", "again.int8.onnx.sha256", "again.onnx", "again.onnx.sha256"]


def test_score_maps_and_boxes_match_torch(onnx_detector, torch_detector, us1):
    """Same input, score maps within float rounding, identical boxes; on a size the trace never saw."""
    batch, _ = prepare([us1], 1.0)
    assert batch.shape == (1, 3, 480, 640)
    torch_scores, onnx_scores = torch_detector.scores(batch), onnx_detector.scores(batch)
    assert onnx_scores.shape == torch_scores.shape == (1, 240, 320, 2)
    assert np.abs(onnx_scores - torch_scores).max() < 1e-4
    images = [us1, frame(SAMPLE / "us_single.dcm"), frame(SAMPLE / "sc_screenshot.dcm")]
    onnx_boxes, torch_boxes = onnx_detector(images), torch_detector(images)
    assert onnx_boxes == torch_boxes
    assert all(len(boxes) >= 5 for boxes in onnx_boxes)
    crop = np.ascontiguousarray(us1[:40, :200])  # the closer look: a small crop magnified 3x
    assert onnx_detector([crop], magnify=3.0) == torch_detector([crop], magnify=3.0) != [[]]


def test_shared_post_processing_equals_easyocr(onnx_detector, us1):
    """craft_post's ports give exactly easyocr's input arrays and boxes."""
    import cv2
    from easyocr.craft_utils import getDetBoxes
    from easyocr.imgproc import normalizeMeanVariance, resize_aspect_ratio

    for mag in (1.0, 1.7):
        ours, ratio = prepare([us1], mag)
        resized, target_ratio, _ = resize_aspect_ratio(us1, 2560, cv2.INTER_LINEAR, mag)
        assert np.array_equal(ours[0], np.transpose(normalizeMeanVariance(resized), (2, 0, 1)))
        assert ratio == 1.0 / target_ratio
    score = onnx_detector.scores(prepare([us1], 1.0)[0])[0]
    for thresholds in ((0.5, 0.3, 0.3), (0.7, 0.4, 0.4)):
        mine = det_boxes(score[..., 0], score[..., 1], *thresholds)
        theirs, _, _ = getDetBoxes(score[..., 0], score[..., 1], *thresholds)
        assert len(mine) == len(theirs) > 5
        assert all(a.dtype == b.dtype and np.array_equal(a, b) for a, b in zip(mine, theirs))


def test_the_8_bit_model_names_its_weights_and_the_export_it_was_made_from(onnx_model):
    import onnx

    from scrubber.detect.onnx_craft import load_session
    from scrubber.models.quantize import META_QUANTIZED, META_QUANTIZED_FROM

    small = int8_path(onnx_model)
    meta = {p.key: p.value for p in onnx.load(str(small), load_external_data=False).metadata_props}
    assert meta[models.META_SOURCE_SHA256] == models.manifest()["craft_mlt_25k.pth"]["sha256"]
    assert meta[META_QUANTIZED_FROM] == models.sha256(onnx_model) and "QDQ" in meta[META_QUANTIZED]
    assert sidecar(small).read_text().split() == [models.sha256(small), small.name]
    assert small.stat().st_size < onnx_model.stat().st_size / 3
    assert load_session(small) is not None  # verified as the export is: sidecar and weights named


def test_an_8_bit_model_made_from_another_export_is_made_again(onnx_model, tmp_path):
    """An 8-bit model beside an export that it does not name as its source (made from an older
    scrubber's export, or before the export was redone) is not used: it is made again from the
    export beside it, the same bytes as ever (the calibration is drawn, not sampled)."""
    import onnx

    from scrubber.detect.models import write_with_sidecar
    from scrubber.detect.onnx_craft import OnnxCraftDetector
    from scrubber.models.export_onnx import stamped
    from scrubber.models.quantize import META_QUANTIZED_FROM

    export = _copy_model(onnx_model, tmp_path / "models")
    small = int8_path(export)
    model = onnx.load(str(int8_path(onnx_model)))
    meta = {p.key: p.value for p in model.metadata_props} | {META_QUANTIZED_FROM: "0" * 64}
    write_with_sidecar(small, stamped(model, meta, model.doc_string))
    stale = small.read_bytes()
    detector = OnnxCraftDetector(THREADS, model_path=export, quantized=True)
    assert detector.path == small and small.read_bytes() != stale
    assert small.read_bytes() == int8_path(onnx_model).read_bytes()
    assert detector._made_from() == models.sha256(export)


def test_the_8_bit_model_finds_the_same_marks_as_the_float_model(onnx_detector, int8_detector, us1):
    """The closer looks at lone marks (``closer_look``: each proposer mark magnified to about GLYPH
    pixels) on real ultrasound and secondary-capture frames: in every crop the 8-bit model finds
    something where the float32 one does, and nothing where it does not; it covers at least
    LEAST_SHARE of what the float32 boxes cover in each crop (8-bit rounding moves an edge by a
    pixel or two: 0.84 at worst in 257 crops, 0.99 on average), MEAN_SHARE on average; its boxes
    are as many in nearly every crop (one line split in two, or two joined, in 6 of 257)."""
    from scrubber.detect.looks import GLYPH, crop_of, zoom_to
    from scrubber.detect.proposer import propose

    images = [us1, frame(SAMPLE / "us_single.dcm"), frame(SAMPLE / "sc_screenshot.dcm"),
              frame(data_path("gdcm-US-ALOKA-16.dcm"))]
    shares, counts = [], []
    for image in images:
        for mark in propose(image)[:40]:
            crop = crop_of(image, mark)[0]
            zoom = zoom_to(mark, GLYPH)
            want, got = onnx_detector([crop], magnify=zoom)[0], int8_detector([crop], magnify=zoom)[0]
            assert bool(want) == bool(got), (mark, want, got)
            if want:
                wanted, covered = _covered(crop.shape, want), _covered(crop.shape, got)
                shares.append(np.count_nonzero(wanted & covered) / np.count_nonzero(wanted))
                counts.append(len(want) == len(got))
    assert len(shares) >= 60
    assert min(shares) >= LEAST_SHARE and float(np.mean(shares)) >= MEAN_SHARE, sorted(shares)[:5]
    assert np.mean(counts) >= 0.9


LEAST_SHARE, MEAN_SHARE = 0.75, 0.97


def _covered(shape: tuple[int, ...], boxes) -> np.ndarray:
    mask = np.zeros(shape[:2], bool)
    for x0, y0, x1, y1 in boxes:
        mask[y0:y1, x0:x1] = True
    return mask


def _copy_model(onnx_model: Path, folder: Path) -> Path:
    folder.mkdir()
    target = folder / CRAFT_ONNX
    shutil.copy(onnx_model, target)
    shutil.copy(sidecar(onnx_model), sidecar(target))
    return target


def test_changed_partial_or_unlabelled_files_are_refused(onnx_model, tmp_path):
    from scrubber.detect.onnx_craft import load_session

    changed = _copy_model(onnx_model, tmp_path / "changed")
    data = bytearray(changed.read_bytes())
    data[len(data) // 2] ^= 0x01  # one bit in a weight
    changed.write_bytes(bytes(data))
    with pytest.raises(ModelError, match=r"sha256 .* says .*partial or changed file.*export_onnx"):
        load_session(changed)

    partial = _copy_model(onnx_model, tmp_path / "partial")
    partial.write_bytes(partial.read_bytes()[:1_000_000])
    with pytest.raises(ModelError, match="partial or changed file"):
        load_session(partial)

    no_sidecar = _copy_model(onnx_model, tmp_path / "no_sidecar")
    sidecar(no_sidecar).unlink()
    with pytest.raises(ModelError, match=r"no readable craft_mlt_25k.onnx.sha256"):
        load_session(no_sidecar)


def test_a_model_from_other_weights_is_refused(onnx_model, tmp_path):
    """A consistent file and sidecar, but exported from weights the manifest does not name."""
    import onnx

    from scrubber.detect.onnx_craft import load_session

    model = onnx.load(str(onnx_model))
    for prop in model.metadata_props:
        if prop.key == models.META_SOURCE_SHA256:
            prop.value = "0" * 64
    other = tmp_path / CRAFT_ONNX
    models.write_with_sidecar(other, model.SerializeToString())
    with pytest.raises(ModelError, match="exported from weights with sha256 0{64}, the model manifest names"):
        load_session(other)


def test_missing_model_without_torch_says_how_to_get_it(tmp_path, monkeypatch):
    from scrubber.detect import onnx_craft

    monkeypatch.setattr(onnx_craft, "importable", lambda name: name not in BLOCKED)
    monkeypatch.setenv(MODEL_DIR_ENV, str(tmp_path / "empty"))
    with pytest.raises(ModelError) as caught:
        onnx_craft.OnnxCraftDetector()
    message = str(caught.value)
    assert "is missing" in message and "python -m scrubber.models.export_onnx" in message
    assert str(tmp_path / "empty") in message and MODEL_DIR_ENV in message
    assert not (tmp_path / "empty").exists()


def test_backend_choice(monkeypatch):
    from scrubber.detect import ocr
    from scrubber.detect.registry import choose_backend, text_model

    present = {"torch", "easyocr", "onnxruntime"}
    monkeypatch.setattr(ocr, "importable", lambda name: name in present)
    assert choose_backend(Policy(device="cpu")) == ("onnx", "cpu")
    assert choose_backend(Policy(device="cpu", backend="torch")) == ("torch", "cpu")
    assert choose_backend(Policy(device="auto", backend="onnx")) == ("onnx", "cpu")
    monkeypatch.setattr(ocr, "resolve_device", lambda device: "cuda" if device in ("auto", "cuda") else "cpu")
    assert choose_backend(Policy(device="auto")) == ("torch", "cuda")  # a GPU keeps torch
    assert choose_backend(Policy(device="cuda")) == ("torch", "cuda")
    present.discard("onnxruntime")
    monkeypatch.setattr(ocr, "resolve_device", lambda device: "cpu")
    assert choose_backend(Policy(device="cpu")) == ("torch", "cpu")  # no onnxruntime: torch
    present.add("onnx")
    assert text_model(Policy(device="cpu")) == "db"  # DB's graph in torch
    present.discard("onnx")
    assert text_model(Policy(device="cpu")) == "craft"  # nothing to read DB's file with
    present.clear()
    present.add("onnxruntime")
    with pytest.raises(ModelError, match="backend torch needs torch"):
        choose_backend(Policy(backend="torch"))
    with pytest.raises(ValueError, match="backend must be"):
        Policy(backend="tensorrt")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="backend onnx runs on the CPU"):
        Policy(backend="onnx", device="cuda")


def test_resolve_device_without_torch(monkeypatch):
    from scrubber.detect import ocr

    monkeypatch.setattr(ocr, "importable", lambda name: False)
    assert ocr.resolve_device("auto") == ocr.resolve_device("cpu") == "cpu"
    with pytest.raises(RuntimeError, match="torch is not installed"):
        ocr.resolve_device("cuda")


def test_auto_without_a_cuda_driver_is_the_cpu_and_imports_no_torch(monkeypatch):
    """Without the driver torch could see no GPU: "auto" is then decided without importing torch
    (a second and 500 MB in every worker). Where the driver loads, torch still decides."""
    from scrubber.detect import ocr

    monkeypatch.setattr(ocr, "CUDA_DRIVERS", {sys.platform: "libno-such-cuda-driver.so.1"})
    assert not ocr.cuda_driver() and ocr.resolve_device("auto") == "cpu"
    code = ("import sys; from scrubber.detect import ocr; "
            "print(ocr.cuda_driver(), ocr.resolve_device('auto'), 'torch' in sys.modules)")
    driver, device, imported = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                                              check=True).stdout.split()
    assert (device, imported) == (("cpu", "False") if driver == "False" else (device, "True"))


def test_cli_takes_a_backend():
    from scrubber.cli import _policy, parser

    for command in (["run", "in", "-o", "out"], ["inspect", "x.dcm"]):
        assert _policy(parser().parse_args(command)).backend == "auto"
        assert _policy(parser().parse_args([*command, "--backend", "onnx"])).backend == "onnx"
        with pytest.raises(SystemExit):
            parser().parse_args([*command, "--backend", "tensorrt"])


TORCH_FREE = """
import json, sys
from pathlib import Path

for name in {blocked!r}:
    try:
        __import__(name)
    except ImportError:
        pass
    else:
        raise SystemExit(f"{{name}} could be imported")

import pydicom
import scrubber.api
from scrubber import Policy, scrub_file
from scrubber.detect.models import ModelError
from scrubber.detect.onnx_craft import OnnxCraftDetector
from scrubber.detect.registry import choose_backend, detector_for
from scrubber.pixels import render
from scrubber.pixels.decode import decode

us1, sample, out, empty, float_only = (Path(p) for p in sys.argv[1:6])
ds = pydicom.dcmread(us1)
image = render.full(decode(ds, Policy().max_samples), ds)[0]
detector = detector_for(Policy(backend="onnx", text_model="craft"), 2)
result = {{"auto": list(choose_backend(Policy())), "class": type(detector).__name__,
           "paired": type(detector_for(Policy(backend="onnx"), 2)).__name__,
           "boxes": [list(b) for b in detector([image])[0]]}}
report = scrub_file(sample, out, Policy(backend="onnx"), detector=None)
result.update(decision=report.decision, removed=report.boxes_removed, written=out.is_file())
import os
os.environ["SCRUBBER_MODEL_DIR"] = str(empty)
try:
    OnnxCraftDetector()
except ModelError as exc:
    result["missing"] = str(exc)
os.environ["SCRUBBER_MODEL_DIR"] = str(float_only)
try:
    OnnxCraftDetector(quantized=True)
except ModelError as exc:
    result["missing_int8"] = str(exc)
import warnings
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    result["fallback"] = detector_for(Policy(backend="onnx"), 1).marks.path.name
result["warned"] = [str(w.message) for w in caught]
result["loaded"] = sorted(m for m in sys.modules if m.split(".")[0] in {blocked!r})
print(json.dumps(result))
"""


def test_onnx_path_runs_without_torch(onnx_model, onnx_detector, us1, tmp_path):
    """A subprocess where torch, torchvision, easyocr and onnx cannot be imported: detect, then
    scrub a file end to end with Policy(backend="onnx"); a missing model, or a missing 8-bit model
    where onnx is not there to make it, gives a clear error (for the 8-bit one, the default
    detector warns and uses the float32 model);
    nothing lands in HOME."""
    blocker = tmp_path / "blocker"
    blocker.mkdir()
    (blocker / "sitecustomize.py").write_text(textwrap.dedent(f"""
        import sys

        class Blocker:
            @staticmethod
            def find_spec(name, path=None, target=None):
                if name.split(".")[0] in {BLOCKED!r}:
                    raise ModuleNotFoundError(f"No module named {{name!r}} (blocked)", name=name)
                return None

        sys.meta_path.insert(0, Blocker)
    """))
    script = tmp_path / "torch_free.py"
    script.write_text(TORCH_FREE.format(blocked=BLOCKED))
    out = tmp_path / "out" / "us_single.dcm"
    home = tmp_path / "home"
    home.mkdir()
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(blocker), str(ROOT)]),
           MODEL_DIR_ENV: str(onnx_model.parent), "HOME": str(home), "XDG_CACHE_HOME": str(home / ".cache")}
    env.pop("ORT_DISABLE_TELEMETRY", None)  # scrubber sets it itself
    float_only = _copy_model(onnx_model, tmp_path / "float_only")
    done = subprocess.run([sys.executable, str(script), str(data_path("US1_UNCR.dcm")),
                           str(SAMPLE / "us_single.dcm"), str(out), str(tmp_path / "empty"), str(float_only.parent)],
                          env=env, cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.splitlines()[-1])
    assert result["auto"] == ["onnx", "cpu"] and result["class"] == "OnnxCraftDetector"
    assert result["paired"] == "TextAndMarks"  # db for lines, CRAFT for lone characters, neither needs torch
    assert [tuple(b) for b in result["boxes"]] == onnx_detector([us1])[0]
    assert result["decision"] == "delivered" and result["written"] and result["removed"] > 0
    assert "is missing and cannot be exported here (needs torch, easyocr and onnx)" in result["missing"]
    assert "craft_mlt_25k.int8.onnx is missing and cannot be made here (needs onnx)" in result["missing_int8"]
    assert not int8_path(float_only).exists()
    assert result["fallback"] == CRAFT_ONNX  # the marks' looks fall back to the float32 model, and say so
    assert len(result["warned"]) == 1 and "use the float32 model" in result["warned"][0]
    assert result["loaded"] == []
    assert list(home.iterdir()) == []  # onnxruntime's telemetry cache and device id stay out of HOME
