"""One detector per process, built on first use and kept (model loading costs seconds)."""
from __future__ import annotations

import threading
import warnings
from collections.abc import Callable
from typing import TYPE_CHECKING

from ..policy import Policy
from .boxes import Box
from .models import ModelError

if TYPE_CHECKING:
    from .db import DbDetector

# images (uint8 RGB) in, boxes per image out; keyword ``magnify`` asks for a closer look
Detector = Callable[..., list[list[Box]]]

_cache: dict[tuple, Detector] = {}
_lock = threading.Lock()


def choose_backend(policy: Policy) -> tuple[str, str]:
    """(backend, device) for this policy: "onnx" runs on the CPU; "auto" is onnx when onnxruntime
    is installed and the device resolves to the CPU (always, when torch is not installed), else torch
    (a CUDA device keeps torch, batched). Imports torch only to ask whether it sees a GPU."""
    from .ocr import importable, resolve_device

    if policy.backend == "onnx":
        return "onnx", "cpu"
    if policy.backend == "torch":
        if not (importable("torch") and importable("easyocr")):
            raise ModelError("backend torch needs torch and easyocr installed; use backend onnx (--backend onnx)")
        return "torch", resolve_device(policy.device)
    device = resolve_device(policy.device)
    if device == "cpu" and importable("onnxruntime"):
        return "onnx", device
    return "torch", device


def text_model(policy: Policy) -> str:
    """The network that finds words and lines for this policy: "auto" is db wherever it can run
    (onnxruntime, or torch with onnx to read its graph), whatever the backend and device: CRAFT
    reading everything removes 444 of the recall sweep's 594 banner labels where the default
    removes 593, so a GPU must not trade recall for speed by default (``--text-model craft`` asks
    for that)."""
    from .ocr import importable

    if policy.text_model != "auto":
        return policy.text_model
    return "db" if importable("onnxruntime") or (importable("onnx") and importable("torch")) else "craft"


def _craft(policy: Policy, threads: int, quantized: bool = False) -> Detector:
    """CRAFT on this policy's backend; ``quantized``: its 8-bit model, where the backend is onnx."""
    backend, device = choose_backend(policy)
    quantized = quantized and backend == "onnx"
    key = ("craft", backend, device, threads, policy.text_threshold, policy.low_text, policy.link_threshold,
           policy.min_long_side, quantized)
    if key not in _cache:
        if backend == "onnx":
            from .onnx_craft import OnnxCraftDetector

            try:
                _cache[key] = OnnxCraftDetector(threads, policy.text_threshold, policy.low_text,
                                                policy.link_threshold, policy.min_long_side, quantized=quantized)
            except ModelError as exc:
                if not quantized:
                    raise
                # a model folder copied from a machine with torch before the 8-bit model existed: the
                # float32 model finds the same marks, 2-3x slower
                warnings.warn(f"{exc}; the closer looks at lone characters use the float32 model", RuntimeWarning,
                              stacklevel=2)
                _cache[key] = _craft(policy, threads)
        else:
            from .ocr import CraftDetector

            _cache[key] = CraftDetector(device, threads, policy.text_threshold, policy.low_text,
                                        policy.link_threshold, policy.min_long_side)
    return _cache[key]


def _db(policy: Policy, threads: int) -> DbDetector:
    """DB on this policy's backend: onnxruntime on the CPU, or torch (its own graph, ``torch_graph``)
    on the backend's device, where a GPU reads whole images batched across files."""
    from .db import DbDetector

    backend, device = choose_backend(policy)
    key = ("db", backend, device, threads, policy.min_long_side)
    if key not in _cache:
        _cache[key] = DbDetector(threads, policy.min_long_side, engine=backend, device=device)
    return _cache[key]


def detector_for(policy: Policy, threads: int = 0) -> Detector:
    """The detector for this policy (text model, backend, device, thresholds), loaded once per
    process: CRAFT, or DB for words and lines paired with CRAFT for lone characters (its 8-bit
    model on onnx: the same boxes on the test files and the annotated set, 2-3x faster), both on
    the policy's backend and device."""
    threads = threads or policy.threads
    with _lock:
        if text_model(policy) == "craft":
            return _craft(policy, threads)
        craft = _craft(policy, threads, quantized=True)
        text = _db(policy, threads)
        key = ("db+marks", id(text), id(craft))
        if key not in _cache:
            from .db import TextAndMarks

            _cache[key] = TextAndMarks(text, craft)
        return _cache[key]
