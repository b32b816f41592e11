"""Video transfer syntaxes (MPEG-2, MPEG-4 AVC/H.264, HEVC/H.265), decoded by FFmpeg through PyAV.

Ultrasound cine and endoscopy are often stored as video. Their Pixel Data is one video stream over
every frame, cut into fragments that are pieces of the stream, not frames (PS3.5 8.2.5-8.2.7 and
the fragmentable variants), so the frames come from decoding the stream whole, here to RGB (FFmpeg
converts YBR_PARTIAL_420 as the standard defines it). A redacted clip is not encoded as video
again: that would re-encode every frame lossily, outside the boxes too. It is written as Explicit
VR Little Endian RGB (syntaxes.toml: "explicit_le", recorded in the audit; ``--keep-syntax strict``
quarantines it instead). A clip in which nothing is removed keeps its stream byte for byte.
"""
from __future__ import annotations

import io
from collections.abc import Iterator

import numpy as np
from pydicom.dataset import Dataset
from pydicom.encaps import generate_fragments

from ..errors import InconsistentImage, UnsupportedImage
from .syntax import rule_for

NAME = "video"


def decodes(ds: Dataset) -> bool:
    """``ds``'s syntax is a video one (the syntax table names this decoder)."""
    return rule_for(str(ds.file_meta.TransferSyntaxUID)).decoder == NAME


def stream(ds: Dataset) -> bytes:
    """The video stream: the Pixel Data's fragments joined (the Basic Offset Table left out)."""
    return b"".join(generate_fragments(ds.PixelData))


def iter_frames(ds: Dataset) -> Iterator[np.ndarray]:
    """Each decoded frame, (rows, cols, 3) RGB, in the order shown; one of another size is refused."""
    import av

    shape = (int(ds.Rows), int(ds.Columns), 3)
    with av.open(io.BytesIO(stream(ds)), mode="r") as container:
        if not container.streams.video:
            raise InconsistentImage("the video Pixel Data holds no video stream")
        for frame in container.decode(container.streams.video[0]):
            rgb = frame.to_ndarray(format="rgb24")
            if rgb.shape != shape:
                raise InconsistentImage(f"a video frame is {rgb.shape[1]}x{rgb.shape[0]}, "
                                        f"the header gives {shape[1]}x{shape[0]}")
            yield rgb


def as_array(ds: Dataset) -> tuple[np.ndarray, dict]:
    """Every frame, (frames, rows, cols, 3) RGB, into one array made for the frames the header
    gives; a stream with more or fewer frames is refused (a cut stream would leave frames out)."""
    if int(ds.BitsAllocated) != 8 or int(ds.BitsStored) != 8:
        raise UnsupportedImage(f"{ds.BitsStored}-bit video (8-bit only)")
    count = int(ds.get("NumberOfFrames", 1) or 1)
    out = np.empty((count, int(ds.Rows), int(ds.Columns), 3), np.uint8)
    decoded = 0
    for frame in iter_frames(ds):
        if decoded == count:
            raise InconsistentImage(f"the video stream holds more frames than the header's {count}")
        out[decoded] = frame
        decoded += 1
    if decoded != count:
        raise InconsistentImage(f"the video stream holds {decoded} frames, the header gives {count}")
    return out, {"photometric_interpretation": "RGB"}
