"""Export easyocr's CRAFT text detector to ONNX from the pinned, sha256-verified weights.

    python -m scrubber.models.export_onnx [--out PATH]

PATH defaults to ``scrubber.detect.models.model_dir() / "craft_mlt_25k.onnx"`` (inside the Python
environment, or $SCRUBBER_MODEL_DIR). Needs torch, easyocr and onnx; the exported file runs with
onnxruntime alone. It is written atomically with a sidecar ``PATH.sha256``; its metadata_props name
the source weights and their sha256 (checked against models/manifest.json on load) and the versions
that made it. The export is deterministic: the same versions give the same bytes. Beside it goes
its 8-bit model (``craft_mlt_25k.int8.onnx``, ``scrubber.models.quantize``; needs onnxruntime and
onnx only), which the closer looks at lone characters use.

Graph: input ``image`` (N, 3, H, W) float32, normalised as ``scrubber.detect.craft_post.prepare``
makes it, H and W multiples of 32; output ``scores`` (N, H/2, W/2, 2) float32 (region, affinity),
the first output of easyocr's ``CRAFT.forward``. Batch, height and width are dynamic.
"""
from __future__ import annotations

import argparse
import io
import sys
import time
import warnings
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from scrubber.detect.models import (CRAFT_ONNX, CRAFT_WEIGHTS, META_SOURCE, META_SOURCE_SHA256, ModelError,
                                    int8_path, manifest, model_dir, verified_path, write_with_sidecar)

OPSET = 17
INPUT, OUTPUT = "image", "scores"
TRACE_SHAPE = (1, 3, 320, 416)  # any multiple of 32; every size is dynamic in the graph
VERSIONED = ("torch", "torchvision", "easyocr", "onnx", "scrubber")


def default_path() -> Path:
    return model_dir() / CRAFT_ONNX


def _version(package: str) -> str:
    try:
        return version(package)
    except PackageNotFoundError:
        return "unknown"


def export_bytes() -> bytes:
    """The serialised ONNX model of CRAFT's score head, metadata included."""
    import onnx
    import torch

    from scrubber.detect.ocr import load_craft

    source_sha256 = manifest()[CRAFT_WEIGHTS]["sha256"]
    verified_path(CRAFT_WEIGHTS)  # stops here unless the weights on disk match the manifest
    net = load_craft("cpu")

    class Scores(torch.nn.Module):
        """CRAFT's first output only (the feature map is not used by detection)."""

        def __init__(self) -> None:
            super().__init__()
            self.net = net

        def forward(self, image):
            return self.net(image)[0]

    buffer = io.BytesIO()
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")  # the TorchScript exporter's deprecation notice
        torch.onnx.export(Scores().eval(), (torch.zeros(TRACE_SHAPE),), buffer, dynamo=False,
                          opset_version=OPSET, input_names=[INPUT], output_names=[OUTPUT],
                          do_constant_folding=True,
                          dynamic_axes={INPUT: {0: "batch", 2: "height", 3: "width"},
                                        OUTPUT: {0: "batch", 1: "height_2", 2: "width_2"}})
    model = onnx.load_from_string(buffer.getvalue())
    meta = {
        META_SOURCE: CRAFT_WEIGHTS,
        META_SOURCE_SHA256: source_sha256,
        "scrubber.source_package": manifest()[CRAFT_WEIGHTS].get("package", ""),
        "scrubber.exporter": "torch.onnx.export(dynamo=False)",
        "scrubber.opset": str(OPSET),
        **{f"scrubber.version.{name}": _version(name) for name in VERSIONED},
    }
    return stamped(model, meta, "easyocr CRAFT text detector (craft_mlt_25k), score maps only; "
                   "see scrubber.models.export_onnx")


def stamped(model, meta: dict[str, str], doc: str) -> bytes:
    """``model`` (an onnx ModelProto) serialised with ``meta`` as its only metadata_props, sorted, and ``doc``."""
    del model.metadata_props[:]
    for key, value in sorted(meta.items()):
        entry = model.metadata_props.add()
        entry.key, entry.value = key, value
    model.doc_string = doc
    return model.SerializeToString()


def export(out: Path | None = None) -> tuple[Path, str]:
    """Export to ``out`` (default ``default_path()``) atomically, then its 8-bit model
    (``quantize_to``); returns the path and its sha256."""
    out = Path(out) if out is not None else default_path()
    try:
        data = export_bytes()
    except ImportError as exc:
        raise ModelError(f"exporting CRAFT to ONNX needs torch, easyocr and onnx ({exc})") from None
    digest = _write(out, data)
    quantize_to(out, digest)
    return out, digest


def quantize_to(source: Path, source_sha256: str) -> Path:
    """The 8-bit model of the float32 export ``source``, written atomically beside it (``int8_path``)."""
    from scrubber.models.quantize import quantize_bytes

    out = int8_path(source)
    try:
        data = quantize_bytes(source, source_sha256)
    except ImportError as exc:
        raise ModelError(f"quantising CRAFT needs onnxruntime and onnx ({exc})") from None
    _write(out, data)
    return out


def _write(out: Path, data: bytes) -> str:
    try:
        return write_with_sidecar(out, data)
    except OSError as exc:
        raise ModelError(f"cannot write the ONNX model to {out} ({exc.strerror or exc}); "
                         "set SCRUBBER_MODEL_DIR to a writable folder") from None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m scrubber.models.export_onnx", description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=None,
                        help=f"output file (default: {default_path()}; folder from $SCRUBBER_MODEL_DIR)")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    try:
        path, digest = export(args.out)
    except ModelError as exc:
        print(f"export_onnx: {exc}", file=sys.stderr)
        return 1
    small = int8_path(path)
    print(f"{path}: sha256 {digest}, {path.stat().st_size / 1e6:.1f} MB, and {small.name}, "
          f"{small.stat().st_size / 1e6:.1f} MB; {time.perf_counter() - started:.1f} s (sidecars PATH.sha256)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
