"""CRAFT text detection (easyocr's detector) in torch, on the pinned, sha256-verified weights.

The model is loaded once per process and kept; nothing is downloaded and nothing is written to
the home folder (we build the network ourselves instead of going through easyocr.Reader). Pre- and
post-processing live in ``craft_post`` and are shared with the ONNX backend (``onnx_craft``).
Importing this module does not import torch: only building a ``CraftDetector`` does.
"""
from __future__ import annotations

import ctypes
import importlib.util
import os
import sys
import threading

import numpy as np

from .craft_post import CraftBase
from .gather import Gather
from .models import CRAFT_WEIGHTS, verified_path

WEIGHTS = CRAFT_WEIGHTS


def importable(name: str) -> bool:
    """True when module ``name`` can be found, without importing it (torch takes seconds)."""
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        return False


CUDA_DRIVERS = {"linux": "libcuda.so.1", "win32": "nvcuda.dll"}  # what torch's CUDA loads first


def cuda_driver() -> bool:
    """True when the CUDA driver library loads: without it torch sees no GPU either, and asking
    torch costs every worker a second and 500 MB (it imports the whole of torch)."""
    name = CUDA_DRIVERS.get(sys.platform)
    if name is None:
        return False
    try:
        ctypes.CDLL(name)
    except OSError:
        return False
    return True


def resolve_device(device: str) -> str:
    """'auto' means cuda when torch sees a GPU, else cpu (also when torch is not installed or no
    CUDA driver is); 'cuda' without a GPU is an error. 'cpu' never imports torch."""
    if device == "cpu" or (device == "auto" and not (importable("torch") and cuda_driver())):
        return "cpu"
    if device == "cuda" and not importable("torch"):
        raise RuntimeError("--device cuda was asked for, but torch is not installed")
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("--device cuda was asked for, but torch sees no CUDA device")
    return device


def ieee_convolutions() -> None:
    """Convolutions on a GPU in IEEE float32, not TF32 (torch's default for cuDNN convolutions on
    Ampere and later, 10 bits of mantissa): the networks' maps on a card then match the CPU's within
    rounding, and the CPU's are what the annotated set and the recall sweeps measured. Process-wide,
    as torch's flag is."""
    import torch

    conv = getattr(torch.backends.cudnn, "conv", None)
    if conv is not None and hasattr(conv, "fp32_precision"):
        conv.fp32_precision = "ieee"
    else:  # torch before 2.9: the legacy flag
        torch.backends.cudnn.allow_tf32 = False


def default_threads(workers: int) -> int:
    """Threads per worker so that workers share the cores instead of fighting for them."""
    return max(1, (os.cpu_count() or 1) // max(1, workers))


def load_craft(device: str = "cpu"):
    """easyocr's CRAFT network with the verified weights, in eval mode on ``device``."""
    import torch
    from easyocr.craft import CRAFT

    state = torch.load(verified_path(WEIGHTS), map_location=device, weights_only=True)
    state = {key.removeprefix("module."): value for key, value in state.items()}
    net = CRAFT()
    net.load_state_dict(state)
    return net.to(device).eval()


class CraftDetector(CraftBase):
    """Callable detector: list of uint8 RGB images in, list of boxes per image out (torch backend)."""

    backend = "torch"

    def __init__(self, device: str = "auto", threads: int = 0, text_threshold: float = 0.5,
                 low_text: float = 0.3, link_threshold: float = 0.3, min_long_side: int = 0) -> None:
        import torch

        super().__init__(text_threshold, low_text, link_threshold, min_long_side)
        self.device = resolve_device(device)
        if threads > 0:
            torch.set_num_threads(threads)
        self.net = load_craft(self.device)
        if self.device == "cuda":
            ieee_convolutions()
            self.batch_pixels = 1 << 22  # whole frames share the GPU
            self.scores = Gather(self.scores)  # ... and so do the frames of files scrubbed side by side
        self._lock = threading.Lock()

    def scores(self, batch: np.ndarray) -> np.ndarray:
        import torch

        tensor = torch.from_numpy(batch).to(self.device)
        with self._lock, torch.inference_mode():
            scores, _ = self.net(tensor)
        return scores.float().cpu().numpy()
