"""Video transfer syntaxes (MPEG-2, MPEG-4 AVC/H.264, HEVC/H.265), decoded by FFmpeg through PyAV.

Ultrasound cine and endoscopy are often stored as video. Their Pixel Data is one video stream over
every frame, cut into fragments that are pieces of the stream, not frames (PS3.5 8.2.5-8.2.7 and
the fragmentable variants), so the frames come from decoding the stream whole, here to RGB
(FFmpeg's conversion of the stream's YUV, which the detector and the written clip both use). A
redacted clip is not encoded as video again: that would re-encode every frame lossily, outside
the boxes too. It is written whole in a lossless syntax (syntaxes.toml: "lossless", JPEG 2000
Lossless, recorded in the audit; ``--keep-syntax strict`` quarantines it instead). A clip in which
nothing is removed keeps its stream byte for byte. FFmpeg decodes a damaged stream without failing,
hiding the damage in the frames, where other decoders may show something else; a stream it
reports an error in is refused.
"""
from __future__ import annotations

import functools
import io
import logging
from collections.abc import Iterator

import numpy as np
from pydicom.dataset import Dataset
from pydicom.encaps import generate_fragments

from ..errors import DecodeFailed, InconsistentImage, UnsupportedImage, UnsupportedSyntax
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
    try:
        import av
        import av.logging
    except ImportError:
        raise UnsupportedSyntax("video transfer syntaxes need PyAV (the av package) to be installed") from None
    shape = (int(ds.Rows), int(ds.Columns), 3)
    _errors_reported()
    with av.open(io.BytesIO(stream(ds)), mode="r") as container, av.logging.Capture(local=True) as said:
        if not container.streams.video:
            raise InconsistentImage("the video Pixel Data holds no video stream")
        video = container.streams.video[0]
        video.codec_context.thread_count = 1  # decoded in this thread, so its errors are this capture's
        for frame in container.decode(video):
            if any(level <= av.logging.ERROR for level, _, _ in said):
                break
            rgb = frame.to_ndarray(format="rgb24")
            if rgb.shape != shape:
                raise InconsistentImage(f"a video frame is {rgb.shape[1]}x{rgb.shape[0]}, "
                                        f"the header gives {shape[1]}x{shape[0]}")
            yield rgb
    if any(level <= av.logging.ERROR for level, _, _ in said):
        raise DecodeFailed("the video stream is damaged (FFmpeg reports errors decoding it and hides them "
                           "in the frames, as other decoders may not)")


@functools.cache
def _errors_reported() -> None:
    """FFmpeg's errors reach Python (PyAV drops them by default), for ``Capture`` to see a damaged
    stream by; outside a capture they are dropped, never printed."""
    import av.logging

    av.logging.set_level(av.logging.ERROR)
    logger = logging.getLogger("libav")
    logger.setLevel(logging.CRITICAL + 1)
    logger.propagate = False


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
