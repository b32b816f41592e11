"""CRAFT in 8-bit integers, for the closer looks at lone characters on the CPU.

CRAFT (VGG16 with batch norm) costs about 2.5 us a network pixel in float32 on this 2-core Xeon;
onnxruntime's 8-bit convolutions (VNNI) take a third of that. The closer looks at lone marks are
where the default detector (DB for lines) still runs CRAFT; with this model MR2_J2KR's detection
was 1.99x as fast, US1's 1.17x, and the 236 test files of pydicom and pydicom-data took 8 % less
time (benchmarks/README.md).

The float32 export (``export_onnx``) is quantised statically (QDQ, weights int8 per channel,
activations uint8, ``reduce_range``: 7-bit weights, so CPUs without VNNI, whose AVX2 8-bit
products saturate, give the same results), with activation ranges from ``calibration_images``:
drawn characters of every size the closer looks magnify to, in white, grey, black and pure
colours, on black, banners, paper, ramps, speckle and colour flow (drawn here, so the model is
made the same way on every machine, offline). The metadata of the float32 file is kept (it names
the weights, checked on load), with the quantisation and the float32 file's sha256 added.
"""
from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np

from scrubber.detect.models import META_QUANTIZED_FROM  # noqa: F401 (the float32 export it was made from)

META_QUANTIZED = "scrubber.quantized"
SCHEME = "onnxruntime quantize_static: QDQ, int8 weights per channel (reduce_range), uint8 activations, MinMax"
GLYPHS = "0123456789ABCDEFGHJKLMNPRSTUVWXYZabdehkmnrstxy:/.-+%#"
INKS = ((255, 255, 255), (160, 160, 160), (90, 90, 90), (0, 0, 0), (255, 255, 0), (255, 0, 0), (0, 255, 0),
        (0, 0, 255))
CALIBRATION_IMAGES = 24  # every fourth 320x416 with up to five words, the rest 96x160 crops with one or two
SEED = 0


def _ground(rng: np.random.Generator, rows: int, cols: int) -> np.ndarray:
    """An RGB ground of one of six kinds: black, a grey banner, white paper, a ramp, speckle, colour flow."""
    import cv2

    kind = int(rng.integers(0, 6))
    if kind == 0:
        return np.zeros((rows, cols, 3), np.uint8)
    if kind == 1:
        return np.full((rows, cols, 3), int(rng.integers(20, 236)), np.uint8)
    if kind == 2:
        return np.full((rows, cols, 3), 255, np.uint8)
    if kind == 3:
        ramp = np.linspace(int(rng.integers(0, 128)), int(rng.integers(128, 256)), cols).astype(np.uint8)
        return np.repeat(np.repeat(ramp[None, :, None], rows, 0), 3, 2)
    if kind == 4:  # speckle: gamma-distributed grains, blurred over two pixels
        grains = np.clip(rng.gamma(2.0, float(rng.uniform(15, 60)), (rows // 2 + 1, cols // 2 + 1)), 0, 255)
        grey = cv2.resize(grains.astype(np.uint8), (cols, rows), interpolation=cv2.INTER_LINEAR)
        return cv2.cvtColor(grey, cv2.COLOR_GRAY2RGB)
    speed = cv2.GaussianBlur(rng.random((rows, cols)).astype(np.float32), (0, 0), 6)  # red-to-yellow flow
    speed = (speed - speed.min()) / max(1e-6, float(np.ptp(speed)))
    flow = speed > 0.5
    out = np.zeros((rows, cols, 3), np.uint8)
    out[..., 0][flow] = 160 + (95 * speed[flow]).astype(np.uint8)
    out[..., 1][flow] = (255 * np.clip(2 * speed[flow] - 1, 0, 1)).astype(np.uint8)
    return out


def calibration_images(count: int = CALIBRATION_IMAGES, seed: int = SEED) -> list[np.ndarray]:
    """``count`` RGB images of drawn characters (one to three) on the grounds of ``_ground``."""
    import cv2

    rng = np.random.default_rng(seed)
    out = []
    for index in range(count):
        rows, cols = (96, 160) if index % 4 else (320, 416)
        image = _ground(rng, rows, cols)
        for _ in range(int(rng.integers(1, 6 if rows > 100 else 3))):
            text = "".join(rng.choice(list(GLYPHS), int(rng.integers(1, 4))))
            scale = float(rng.uniform(0.4, 2.5))
            ink = INKS[int(rng.integers(0, len(INKS)))]
            origin = (int(rng.integers(0, cols - 20)), int(rng.integers(20, rows)))
            cv2.putText(image, text, origin, cv2.FONT_HERSHEY_SIMPLEX, scale, ink, max(1, int(scale * 2)),
                        cv2.LINE_AA)
        out.append(image)
    return out


def quantize_bytes(source: Path, source_sha256: str) -> bytes:
    """The 8-bit model of the float32 CRAFT export at ``source`` (whose sha256 is ``source_sha256``)."""
    import onnx
    from onnxruntime.quantization import (CalibrationDataReader, QuantFormat, QuantType, quant_pre_process,
                                          quantize_static)

    from scrubber.detect.craft_post import prepare
    from scrubber.models.export_onnx import stamped

    feeds = iter([{"image": prepare([image], 1.0)[0]} for image in calibration_images()])

    class Reader(CalibrationDataReader):
        def get_next(self) -> dict | None:
            return next(feeds, None)

    with tempfile.TemporaryDirectory(prefix="scrubber-quantize-") as folder:
        prepared, quantized = Path(folder) / "prepared.onnx", Path(folder) / "quantized.onnx"
        # batch norm folded into the convolutions first: one scale per channel, not two
        quant_pre_process(str(source), str(prepared), skip_symbolic_shape=True)
        quantize_static(str(prepared), str(quantized), Reader(), quant_format=QuantFormat.QDQ, per_channel=True,
                        reduce_range=True, activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8)
        model = onnx.load(str(quantized))
    meta = {prop.key: prop.value for prop in onnx.load(str(source), load_external_data=False).metadata_props}
    meta.update({META_QUANTIZED: SCHEME, META_QUANTIZED_FROM: source_sha256})
    return stamped(model, meta, "easyocr CRAFT text detector (craft_mlt_25k), 8-bit; see scrubber.models.quantize")
