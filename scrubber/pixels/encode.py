"""Write redacted frames back into a dataset, in the syntax the table says, and prove it.

Every encode is followed by a decode of the result that must equal the redacted frames exactly:
a codec that cannot round-trip losslessly never gets to deliver a file.
"""
from __future__ import annotations

import numpy as np
from pydicom.dataset import Dataset
from pydicom.pixels import get_decoder
from pydicom.pixels.utils import compress, pack_bits
from pydicom.uid import UID, ExplicitVRLittleEndian, JPEG2000Lossless

from ..errors import EncodeFailed
from .decode import Frames
from .syntax import rule_for

NATIVE_PI = {"YBR_FULL_422": "YBR_FULL"}  # our arrays hold full-resolution YBR


def _native_bytes(arr: np.ndarray, ds: Dataset, little_endian: bool) -> bytes:
    """Native Pixel Data for (frames, rows, cols, samples) in the syntax's byte order and planar config."""
    bits = int(ds.BitsAllocated)
    if bits == 1:
        return pack_bits(arr.reshape(-1))
    if int(ds.SamplesPerPixel) > 1 and int(ds.get("PlanarConfiguration", 0) or 0) == 1:
        arr = arr.transpose(0, 3, 1, 2)
    kind = "i" if int(ds.PixelRepresentation) else "u"
    order = "<" if little_endian else ">"
    data = np.ascontiguousarray(arr).astype(f"{order}{kind}{bits // 8}", copy=False).tobytes()
    return data + b"\0" if len(data) % 2 else data


def _squeeze(arr: np.ndarray) -> np.ndarray:
    """pydicom's shape convention: no frame axis for one frame, no sample axis for one sample."""
    if arr.shape[-1] == 1:
        arr = arr[..., 0]
    return arr[0] if arr.shape[0] == 1 else arr


def encode(ds: Dataset, frames: Frames, redacted: np.ndarray) -> str:
    """Replace ``ds``'s Pixel Data with ``redacted``; return the transfer syntax UID written.

    A lossless syntax whose encoder refuses this image (pydicom's RLE encoder and 32-bit samples,
    say) falls back to Explicit VR Little Endian; the caller records the syntax that was written.
    """
    source = UID(str(ds.file_meta.TransferSyntaxUID))
    target = UID(rule_for(source).write_uid)
    photometric = NATIVE_PI.get(frames.photometric, frames.photometric)
    if target.is_encapsulated:
        try:
            _compress(ds, target, photometric, redacted)
            verify(ds, redacted)
            return str(target)
        except Exception:
            target = ExplicitVRLittleEndian
    ds.PhotometricInterpretation = photometric
    try:
        ds.PixelData = _native_bytes(redacted, ds, target.is_little_endian)
        ds["PixelData"].VR = "OW" if int(ds.BitsAllocated) > 8 else "OB"
        ds["PixelData"].is_undefined_length = False
        ds.file_meta.TransferSyntaxUID = target
    except Exception as exc:
        raise EncodeFailed(f"re-encoding as {target.name} failed ({type(exc).__name__})") from None
    verify(ds, redacted)
    return str(target)


def _compress(ds: Dataset, target: UID, photometric: str, redacted: np.ndarray) -> None:
    """Encode with pydicom's encoder for ``target``; JPEG 2000 RGB goes back through the RCT."""
    ds.PhotometricInterpretation = photometric
    kwargs = {}
    if photometric == "RGB" and target == JPEG2000Lossless:
        ds.PhotometricInterpretation = "YBR_RCT"
        kwargs["use_mct"] = True
    if int(ds.SamplesPerPixel) > 1:
        ds.PlanarConfiguration = 0  # our arrays are pixel-interleaved; encoders take them so
    compress(ds, target, _squeeze(redacted), generate_instance_uid=False, **kwargs)


def verify(ds: Dataset, expected: np.ndarray) -> None:
    """Decode what we wrote; anything but an exact match with ``expected`` is a failure."""
    try:
        arr, _ = get_decoder(ds.file_meta.TransferSyntaxUID).as_array(ds, raw=True)
    except Exception as exc:
        raise EncodeFailed(f"re-encoded pixel data does not decode ({type(exc).__name__})") from None
    if arr.size != expected.size or not np.array_equal(arr.reshape(expected.shape), expected):
        raise EncodeFailed("re-encoded pixel data does not match the redacted frames")
