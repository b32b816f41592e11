"""CRAFT text detection with onnxruntime on the CPU: same boxes as ``ocr.CraftDetector``, no torch.

The network is the ONNX export of the pinned weights (``scrubber.models.export_onnx``), found in
``models.model_dir()``, or its 8-bit model beside it (``quantized``: the closer looks at lone
characters, 2-3x faster; ``scrubber.models.quantize``). A missing file is exported on first use
when torch is installed (a few seconds, once per environment), a missing 8-bit model made from the
export where onnx is installed; without them the run stops with a ModelError that says how to get
the file. Before use the file must match its sidecar sha256 and its metadata must name the weights'
sha256 in models/manifest.json; an 8-bit model must also name the sha256 of the export beside it, or
it is made again from that export. Pre- and post-processing are ``craft_post``'s, shared with torch.
"""
from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from .craft_post import CraftBase
from .models import (CRAFT_ONNX, CRAFT_WEIGHTS, EXPORT_COMMAND, META_QUANTIZED_FROM, META_SOURCE_SHA256, MODEL_DIR_ENV,
                     ModelError, int8_path, manifest, model_dir, read_verified, sidecar, sidecar_digest)
from .ocr import default_threads, importable

# onnxruntime's official builds upload usage telemetry on Linux and macOS too (PR #27379) and keep
# a device id and an event cache under ~/.cache/Microsoft, unless this variable is set before the
# library initialises; scrubber makes no network calls and writes nothing to the home folder.
TELEMETRY_OPT_OUT = "ORT_DISABLE_TELEMETRY"
os.environ.setdefault(TELEMETRY_OPT_OUT, "1")


def craft_onnx_path() -> Path:
    return model_dir() / CRAFT_ONNX


@contextlib.contextmanager
def _export_lock(folder: Path) -> Iterator[None]:
    """One exporting process at a time per folder (workers starting together); POSIX only."""
    try:
        import fcntl
    except ImportError:
        yield
        return
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / f".{CRAFT_ONNX}.lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def ensure_model(path: Path | None = None, quantized: bool = False) -> Path:
    """The ONNX file, exported first when it is missing and torch is there to export it; with
    ``quantized``, its 8-bit model, made from it first when missing and onnx is there to make it."""
    path = Path(path) if path is not None else craft_onnx_path()
    if quantized:
        return _ensure_int8(path)
    if path.is_file():
        return path
    if not (importable("torch") and importable("easyocr") and importable("onnx")):
        raise ModelError(
            f"ONNX text detector {path} is missing and cannot be exported here (needs torch, easyocr and onnx): "
            f"run `{EXPORT_COMMAND} --out {CRAFT_ONNX}` where they are installed, then copy {CRAFT_ONNX} and "
            f"{sidecar(Path(CRAFT_ONNX)).name} into {path.parent} (or into a folder named by ${MODEL_DIR_ENV})")
    from scrubber.models.export_onnx import export

    try:
        with _export_lock(path.parent):
            if not path.is_file():  # another process may have exported it while we waited
                export(path)
    except OSError as exc:
        raise ModelError(f"cannot write the ONNX text detector to {path.parent} ({exc.strerror or exc}); "
                         f"set ${MODEL_DIR_ENV} to a writable folder") from None
    return path


def _ensure_int8(path: Path) -> Path:
    """The 8-bit model of the export at ``path`` (``int8_path``), made from it when missing."""
    small = int8_path(path)
    if small.is_file():
        return small
    source = ensure_model(path)  # an export writes the 8-bit model too
    if small.is_file():
        return small
    if not (importable("onnx") and importable("onnxruntime")):
        raise ModelError(
            f"8-bit ONNX text detector {small} is missing and cannot be made here (needs onnx): run "
            f"`{EXPORT_COMMAND} --out {CRAFT_ONNX}` where torch, easyocr and onnx are installed, then copy "
            f"{CRAFT_ONNX}, {small.name} and their .sha256 sidecars into {small.parent} (or into a folder named by "
            f"${MODEL_DIR_ENV})")
    from scrubber.models.export_onnx import quantize_to

    with _export_lock(path.parent):
        if not small.is_file():
            read_verified(source)  # quantised only from the file its sidecar vouches for, whose digest it names
            quantize_to(source, sidecar_digest(source))
    return small


def _made_again(path: Path) -> Path:
    """The 8-bit model of the export at ``path`` made anew from it: the one beside it was made from
    another export (an older scrubber's, or before the export was redone). Another process that
    found the same may have made it already: only the file seen stale is deleted."""
    small = int8_path(path)
    seen = sidecar_digest(small)
    if not (importable("onnx") and importable("onnxruntime")):
        raise ModelError(f"8-bit ONNX text detector {small} was made from another export than {path.name} beside "
                         f"it and cannot be made again here (needs onnx): delete both and run `{EXPORT_COMMAND} "
                         f"--out {CRAFT_ONNX}` where torch, easyocr and onnx are installed")
    with _export_lock(path.parent):
        if sidecar_digest(small) == seen:
            for stale in (small, sidecar(small)):
                stale.unlink(missing_ok=True)
    return _ensure_int8(path)


def _ort():
    os.environ.setdefault(TELEMETRY_OPT_OUT, "1")
    try:
        import onnxruntime
    except ImportError:
        raise ModelError("the ONNX backend needs onnxruntime (pip install onnxruntime)") from None
    onnxruntime.disable_telemetry_events()  # in case it was imported before the variable was set
    return onnxruntime


def session_options(threads: int = 0):
    """CPU session settings: ``threads`` intra-op threads (0: every core), all graph optimisations."""
    ort = _ort()
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads if threads > 0 else default_threads(1)
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.log_severity_level = 3
    return options


def load_plain_session(path: Path, data: bytes, threads: int = 0):
    """An onnxruntime session on the CPU (``session_options``) for ``data``, the bytes of the model
    file ``path`` already read and checked (the bytes checked are the bytes loaded)."""
    ort = _ort()
    try:
        return ort.InferenceSession(data, session_options(threads), providers=["CPUExecutionProvider"])
    except Exception as exc:
        raise ModelError(f"onnxruntime cannot load {path} ({type(exc).__name__}); reinstall scrubber or, for "
                         f"the CRAFT export, delete it and re-export: {EXPORT_COMMAND} --out {path}") from None


def load_session(path: Path, threads: int = 0):
    """A verified CRAFT session: the file matches its sidecar and names the manifest's weights."""
    session = load_plain_session(path, read_verified(path), threads)
    expected = manifest()[CRAFT_WEIGHTS]["sha256"]
    named = session.get_modelmeta().custom_metadata_map.get(META_SOURCE_SHA256)
    if named != expected:
        raise ModelError(f"ONNX text detector {path} was exported from weights with sha256 {named}, the model "
                         f"manifest names {expected} for {CRAFT_WEIGHTS}; delete it and re-export: "
                         f"{EXPORT_COMMAND} --out {path}")
    return session


class OnnxCraftDetector(CraftBase):
    """Callable detector: list of uint8 RGB images in, list of boxes per image out (onnxruntime, CPU).

    Same arguments and output as ``ocr.CraftDetector`` (without ``device``: CPU only). ``threads``
    0 means every core (``default_threads(1)``); the batch runner passes cores / workers.
    """

    backend = "onnx"
    device = "cpu"

    def __init__(self, threads: int = 0, text_threshold: float = 0.5, low_text: float = 0.3,
                 link_threshold: float = 0.3, min_long_side: int = 0, model_path: Path | None = None,
                 quantized: bool = False) -> None:
        super().__init__(text_threshold, low_text, link_threshold, min_long_side)
        self.path = ensure_model(model_path, quantized)
        self.session = load_session(self.path, threads)
        export = Path(model_path) if model_path is not None else craft_onnx_path()
        if quantized and (digest := sidecar_digest(export)) is not None and digest != self._made_from():
            self.path = _made_again(export)
            self.session = load_session(self.path, threads)
        self._input = self.session.get_inputs()[0].name

    def _made_from(self) -> str | None:
        """The sha256 of the float32 export that the loaded 8-bit model names as its source."""
        return self.session.get_modelmeta().custom_metadata_map.get(META_QUANTIZED_FROM)

    def scores(self, batch: np.ndarray) -> np.ndarray:
        return self.session.run(None, {self._input: batch})[0]
