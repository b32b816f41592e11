"""Write redacted frames back into a dataset, in the syntax the table says, and prove it.

Every encode is followed by a decode of the result that must equal the redacted frames exactly:
a codec that cannot round-trip losslessly never gets to deliver a file. The lossy syntaxes kept as
they are (JPEG-LS near-lossless, lossy JPEG 2000) are checked against stated bounds instead.

Colour written natively from a compressed input is written as RGB (``_native_colour``): PS3.3
requires RGB for uncompressed colour in US, Multi-frame True Color SC, VL, whole-slide and Enhanced
Color MR images, and RGB is valid in every other image IOD.
"""
from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from pydicom.dataset import Dataset
from pydicom.encaps import encapsulate, encapsulate_extended, generate_frames
from pydicom.pixels import get_encoder
from pydicom.pixels.utils import as_pixel_options, compress, pack_bits
from pydicom.uid import (HTJ2K, UID, ExplicitVRLittleEndian, HTJ2KLossless, HTJ2KLosslessRPCL, JPEG2000,
                         JPEG2000Lossless, JPEGLossless, JPEGLosslessSV1)

from ..errors import EncodeFailed
from . import encapsulated_native, htj2k, jpeg_lossless, jpeg_ls
from .colour import YBR_FULL_SPACES, ybr_to_rgb
from .decode import Frames, as_array, iter_frames
from .j2k_codestream import CodingStyle, coding_style
from .jpeg_dct import check_redacted, redact_frame
from .redact import Box, box_mask, box_masks
from .syntax import rule_for

DCT_BLACK = ("MONOCHROME2", "RGB", "YBR_FULL", "YBR_FULL_422")  # where a black block is the fill
# same_rate (lossy JPEG 2000): the 9/7 wavelet rings across the box edge, so a box cannot decode to
# exactly the fill; it must stay dark (every sample within this share of the sample range of the
# fill: it renders near black, far below the contrast of text) and the frame must stay close to the
# redacted one (PSNR, peak = sample range). No text can leak either way: the encoder never sees it.
DARK_SHARE = 0.08
MIN_PSNR_DB = 40.0
# The input's rate first; a frame that misses the bounds there is tried at 0.8x and 0.64x of it
# (its fragment grows to at most ~1.6x) before the file falls back to Explicit VR Little Endian.
RATE_STEPS = (1.0, 0.8, 0.64)
HTJ2K_SYNTAXES = (HTJ2KLossless, HTJ2KLosslessRPCL, HTJ2K)


@dataclass(frozen=True, slots=True)
class Encoded:
    """What was written: the syntax, what the new Pixel Data decodes to, and how it was made."""

    syntax: str
    after: np.ndarray  # (frames, rows, cols, samples), decoded from the written Pixel Data
    method: str  # same | same_near | same_rate | jpeg_dct | lossless | explicit_le
    # same_near: largest |after - redacted| allowed (JPEG-LS NEAR), boxes included;
    # same_rate: largest |after - fill| allowed inside the boxes (DARK_SHARE of the sample range)
    tolerance: int = 0
    psnr_db: float | None = None  # same_rate: lowest PSNR (dB) of a re-encoded frame vs the redacted
    photometric: str | None = None  # colour space of ``after`` when it is not the decoded input's
    # JPEG 2000: coding parameters in which a re-encoded frame differs from the frame it replaced
    # (e.g. "progression order RPCL -> LRCP"); pydicom's OpenJPEG encoder cannot set them all
    changes: tuple[str, ...] = ()
    # jpeg_dct: pixels of the blanked blocks (the boxes grown to whole blocks), summed over frames
    grown_pixels: int | None = None


NATIVE_PI = {"YBR_FULL_422": "YBR_FULL"}  # our arrays hold full-resolution YBR


def _native_colour(ds: Dataset, frames: Frames, redacted: np.ndarray,
                   source: UID) -> tuple[str, int | None, np.ndarray]:
    """Photometric interpretation, planar configuration (None: the header's) and the values to
    write ``redacted`` natively with.

    8-bit YBR decoded from a compressed syntax (a JPEG written as Explicit VR Little Endian)
    becomes RGB, colour-by-pixel, by pydicom's YBR_FULL equations (the values its ``pixel_array``
    shows for the input): the US Image module allows YBR_FULL only compressed (RLE, colour-by-
    plane), and several IODs require RGB uncompressed. Other YBR keeps its values: YBR_FULL_422
    (the array holds every chroma sample) and YBR_FULL from a compressed syntax become YBR_FULL
    colour-by-plane, as the US Image module asks of YBR_FULL; native YBR_FULL keeps its header.
    """
    if frames.photometric not in YBR_FULL_SPACES:
        return frames.photometric, None, redacted
    if source.is_encapsulated and redacted.dtype == np.uint8:
        return "RGB", 0, ybr_to_rgb(redacted)
    if source.is_encapsulated or str(ds.PhotometricInterpretation) != "YBR_FULL":
        return "YBR_FULL", 1, redacted
    return "YBR_FULL", None, redacted


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


def encode(ds: Dataset, frames: Frames, redacted: np.ndarray | Callable[[], np.ndarray],
           boxes: Sequence[Sequence[Box]], jpeg_dct: bool = True) -> Encoded:
    """Replace ``ds``'s Pixel Data by its redacted version, in the syntax the table says.

    With ``jpeg_dct`` (the default), JPEG baseline/extended stay JPEG: redacted in the DCT domain (whole
    blocks, no generation loss elsewhere); without it they are written as Explicit VR Little Endian
    (exact boxes, decoded pixels kept as they were, 8-bit YBR as the RGB pydicom shows). A syntax
    whose encoder refuses this image (pydicom's RLE encoder and 32-bit samples, a 12-bit HTJ2K)
    falls back to Explicit VR Little Endian; ``method`` says which. ``redacted`` may be a function
    that makes the frames: the DCT domain never needs them, and a long clip is not copied for it.
    """
    source = UID(str(ds.file_meta.TransferSyntaxUID))
    rule = rule_for(source)
    photometric = NATIVE_PI.get(frames.photometric, frames.photometric)
    if rule.method == "jpeg_dct" and jpeg_dct:
        try:
            return _encode_jpeg_dct(ds, frames, boxes)
        except (ValueError, EncodeFailed):
            pass
    if callable(redacted):
        redacted = redacted()
    if rule.method in ("same_near", "same_rate"):
        try:
            return _encode_changed_frames(ds, frames, redacted, source, rule.method, boxes)
        except Exception:
            pass
    elif rule.method == "same" and source.is_encapsulated:
        try:
            return _encode_changed_frames(ds, frames, redacted, source)
        except Exception:
            pass
        try:
            _compress(ds, source, photometric, redacted)
            verify(ds, redacted)
            return Encoded(str(source), redacted, "same")
        except Exception:
            pass
    elif rule.method == "lossless":  # another syntax, whole (video: re-encoding it would be lossy everywhere)
        try:
            _compress(ds, UID(rule.write_uid), photometric, redacted)
            verify(ds, redacted)
            return Encoded(rule.write_uid, redacted, "lossless")
        except Exception:
            pass
    target = source if rule.method == "same" and not source.is_encapsulated else UID(ExplicitVRLittleEndian)
    photometric, planar, written = _native_colour(ds, frames, redacted, source)
    ds.PhotometricInterpretation = photometric
    if planar is not None or (int(ds.SamplesPerPixel) > 1 and "PlanarConfiguration" not in ds):
        ds.PlanarConfiguration = planar or 0  # colour by pixel; type 1C, which a video header may leave out
    _drop_extended_offsets(ds)
    try:
        ds.PixelData = _native_bytes(written, ds, target.is_little_endian)
        ds["PixelData"].VR = "OW" if int(ds.BitsAllocated) > 8 else "OB"
        ds["PixelData"].is_undefined_length = False
        ds.file_meta.TransferSyntaxUID = target
    except Exception as exc:
        raise EncodeFailed(f"re-encoding as {target.name} failed ({type(exc).__name__})") from None
    verify(ds, written)
    return Encoded(str(target), written, "same" if target == source else "explicit_le",
                   photometric=photometric if written is not redacted else None)


def _encode_jpeg_dct(ds: Dataset, frames: Frames, boxes: Sequence[Sequence[Box]]) -> Encoded:
    """Rewrite only the blocks under the boxes; frames without boxes keep their bytes."""
    if frames.photometric not in DCT_BLACK:
        raise ValueError(f"a black DCT block is not the fill for {frames.photometric}")
    count, rows, cols = frames.stored.shape[:3]
    rgb = str(ds.PhotometricInterpretation) == "RGB"
    grown: dict[int, np.ndarray] = {}  # per frame with boxes, packed: a long clip's masks stay small
    fragments = []
    for index, fragment in enumerate(generate_frames(ds.PixelData, number_of_frames=count)):
        mask = box_mask(boxes[index], rows, cols)
        if mask.any():  # checked below, on the decode of the whole file
            fragment, blocks = redact_frame(fragment, mask, rgb=rgb, verify=False)
            grown[index] = np.packbits(blocks)
        fragments.append(fragment)
    _encapsulate(ds, fragments)
    after = _decoded(ds, frames.stored.shape)
    grown_pixels = 0
    for index in range(count):
        mask = box_mask(boxes[index], rows, cols)
        blocks = (np.unpackbits(grown[index], count=rows * cols).reshape(rows, cols).astype(bool)
                  if index in grown else mask)
        grown_pixels += int(np.count_nonzero(blocks))
        try:
            check_redacted(frames.stored[index], after[index], mask, blocks, rgb, frames.bits_stored)
        except ValueError as exc:
            raise EncodeFailed(f"DCT-domain redaction of frame {index} failed its check ({exc})") from None
    return Encoded(str(ds.file_meta.TransferSyntaxUID), after, "jpeg_dct", grown_pixels=grown_pixels)


def _encode_changed_frames(ds: Dataset, frames: Frames, redacted: np.ndarray, source: UID,
                           method: str = "same", boxes: Sequence[Sequence[Box]] = ()) -> Encoded:
    """Encode only the frames whose pixels changed; every other frame keeps its fragment bytes.

    The header (photometric interpretation, planar configuration) is left as the untouched
    fragments were encoded under, and the new frames are encoded to match it; the full decode
    afterwards proves that both kinds of frame read back as ``redacted``. ``same_near`` (JPEG-LS
    near-lossless): a new frame keeps the NEAR of the fragment it replaces and may differ from
    ``redacted`` by that much, inside the boxes too. ``same_rate`` (lossy JPEG 2000): a new frame
    gets the compression ratio of the fragment it replaces, so the file keeps its size, and must
    pass ``_lossy_misses``. Untouched frames must match exactly in every method.
    """
    count = frames.count
    originals = list(generate_frames(ds.PixelData, number_of_frames=count))
    encode_frame = _frame_encoder(ds, source, originals)
    options = as_pixel_options(ds, number_of_frames=1, planar_configuration=0,
                               **_codec_options(ds, source))
    if len(originals) != count:
        raise EncodeFailed(f"found {len(originals)} encoded frames, expected {count}")
    changed = [index for index in range(count)
               if not np.array_equal(redacted[index], frames.stored[index])]
    limits = np.zeros(count, np.int64)
    if method == "same_near":
        limits[changed] = [jpeg_ls.near(originals[index]) for index in changed]
    styles = {index: _j2k_style(originals[index]) for index in changed} if source in J2K_SYNTAXES else {}
    fragments, pending = list(originals), changed
    for step in RATE_STEPS if method == "same_rate" else (1.0,):
        for index in pending:
            style = styles.get(index)
            precision = style.precision if style else frames.bits_stored
            if source in (JPEG2000Lossless, JPEG2000):  # the precision the replaced frame declared
                options["bits_stored"] = precision
            if method == "same_near":
                options["jls_error"] = int(limits[index])
            elif method == "same_rate":  # the input's rate, in as many quality layers as it had
                layers = max(1, style.layers) if style else 1
                raw_bytes = redacted[index].size * precision / 8  # OpenJPEG's ratios count coded bits
                ratio = max(1.0, step * raw_bytes / len(originals[index]))
                options["j2k_cr"] = [ratio * 2.0 ** (layers - 1 - k) for k in range(layers)]
            fragments[index] = encode_frame(_squeeze(redacted[index:index + 1]), originals[index], **options)
        _encapsulate(ds, fragments)
        after = _decoded(ds, redacted.shape)
        if not all(np.array_equal(after[i], redacted[i]) for i in set(range(count)) - set(changed)):
            raise EncodeFailed("a frame that kept its fragment decodes differently")
        changes = _coding_changes(styles, fragments)
        if method == "same_rate" and all(np.array_equal(after[i], redacted[i]) for i in changed):
            return Encoded(str(source), after, "same", changes=changes)  # reversibly coded frames came back exact
        if method != "same_rate":
            if any(int(_error(after, redacted, i).max(initial=0)) > limits[i] for i in changed):
                raise EncodeFailed("re-encoded pixel data does not match the redacted frames")
            return Encoded(str(source), after, method, int(limits.max()), changes=changes)
        bound = int(DARK_SHARE * (2**frames.bits_stored - 1))
        psnr, pending = _lossy_misses(after, redacted, changed, box_masks(boxes, *redacted.shape[1:3]),
                                      bound, frames.bits_stored)
        if not pending:
            return Encoded(str(source), after, method, bound, min(psnr, default=None), changes=changes)
    raise EncodeFailed(f"re-encoded frames {pending} miss the lossy bounds even at a higher rate")


J2K_SYNTAXES = (JPEG2000Lossless, JPEG2000, *HTJ2K_SYNTAXES)
CODING = (("order", "progression order"), ("layers", "quality layers"), ("levels", "decomposition levels"),
          ("tile", "tile size"), ("tlm", "TLM markers"), ("precision", "precision"))


def _j2k_style(fragment: bytes) -> CodingStyle | None:
    """How a JPEG 2000 frame was coded (None when its main header cannot be read)."""
    try:
        return coding_style(fragment)
    except ValueError:
        return None


def _coding_changes(styles: dict[int, CodingStyle | None], fragments: list[bytes]) -> tuple[str, ...]:
    """JPEG 2000 coding parameters in which the new fragments differ from the ``styles`` of those
    they replaced (by frame index)."""
    found: list[str] = []
    for index, was in styles.items():
        now = _j2k_style(fragments[index])
        if was is None or now is None:
            continue
        for field_name, label in CODING:
            a, b = getattr(was, field_name), getattr(now, field_name)
            change = f"{label} {a} -> {b}"
            if a != b and change not in found:
                found.append(change)
    return tuple(found)


def _frame_encoder(ds: Dataset, source: UID, originals: list[bytes]) -> Callable[..., bytes]:
    """An encoder ``(frame, replaced_fragment, **options) -> fragment`` for the syntax: pydicom's,
    ours for JPEG lossless (new frames take the sample precision of the input's first frame) and
    Encapsulated Uncompressed (native bytes), or OpenJPH's for HTJ2K (coded like the fragment it
    replaces); pydicom can write none of these three."""
    if source in HTJ2K_SYNTAXES:
        writer = htj2k.Writer()

        def encode_htj2k(frame: np.ndarray, original: bytes, j2k_cr: list[float] | None = None,
                         **_: object) -> bytes:
            size = frame.nbytes / j2k_cr[-1] if j2k_cr else None  # OpenJPH codes itemsize bits
            return writer.encode_like(frame, original, size)

        return encode_htj2k
    if source == encapsulated_native.SYNTAX:
        def encode_native(frame: np.ndarray, _original: bytes, **__: object) -> bytes:
            return _native_bytes(frame.reshape(1, *frame.shape[:2], -1), ds, little_endian=True)

        return encode_native
    if source in (JPEGLossless, JPEGLosslessSV1):
        precision = jpeg_lossless.sof3_precision(originals[0])

        def encode_lossless(frame: np.ndarray, _original: bytes, **__: object) -> bytes:
            return jpeg_lossless.encode_frame(frame.astype(np.int64) & ((1 << precision) - 1), precision)

        return encode_lossless
    encoder = get_encoder(source)

    def encode_pydicom(frame: np.ndarray, _original: bytes, **options: object) -> bytes:
        return encoder.encode(frame, **options)

    return encode_pydicom


def _error(after: np.ndarray, redacted: np.ndarray, index: int) -> np.ndarray:
    """|after - redacted| of one frame (one frame at a time: a clip in int64 would not fit)."""
    return np.abs(after[index].astype(np.int64) - redacted[index].astype(np.int64))


def _lossy_misses(after: np.ndarray, redacted: np.ndarray, changed: list[int], masks: list[np.ndarray],
                  bound: int, bits: int) -> tuple[list[float], list[int]]:
    """PSNR of each re-encoded frame, and those frames whose boxes are not dark or whose PSNR is low."""
    peak = 2**bits - 1
    psnr, misses = [], []
    for index in changed:
        error = _error(after, redacted, index)
        mse = float(np.mean(error.astype(np.float64) ** 2))
        psnr.append(math.inf if mse == 0 else 10 * math.log10(peak**2 / mse))
        if psnr[-1] < MIN_PSNR_DB or int(error[masks[index]].max(initial=0)) > bound:
            misses.append(index)
    return psnr, misses


def _codec_options(ds: Dataset, target: UID) -> dict[str, bool]:
    """JPEG 2000 frames use the colour transform (RCT; ICT when lossy) exactly when the header does."""
    if target not in (JPEG2000Lossless, JPEG2000) or int(ds.SamplesPerPixel) == 1:
        return {}
    return {"use_mct": str(ds.PhotometricInterpretation) in ("YBR_RCT", "YBR_ICT")}


def _drop_extended_offsets(ds: Dataset) -> None:
    """An Extended Offset Table left over from the input would point into the old fragments."""
    for keyword in ("ExtendedOffsetTable", "ExtendedOffsetTableLengths"):
        if keyword in ds:
            delattr(ds, keyword)


def _encapsulate(ds: Dataset, fragments: list[bytes]) -> None:
    """One fragment per frame, with a Basic Offset Table, or an extended one past 4 GiB offsets."""
    _drop_extended_offsets(ds)
    offsets_fit = sum(len(f) + 8 + len(f) % 2 for f in fragments[:-1]) < 2**32
    if offsets_fit:
        ds.PixelData = encapsulate(fragments, has_bot=True)
    else:
        pixels, offsets, lengths = encapsulate_extended(fragments)
        ds.PixelData, ds.ExtendedOffsetTable, ds.ExtendedOffsetTableLengths = pixels, offsets, lengths
    ds["PixelData"].VR = "OB"
    ds["PixelData"].is_undefined_length = True


def _compress(ds: Dataset, target: UID, photometric: str, redacted: np.ndarray) -> None:
    """Encode with pydicom's encoder for ``target``; JPEG 2000 RGB goes back through the RCT."""
    ds.PhotometricInterpretation = photometric
    kwargs = {}
    if photometric == "RGB" and target == JPEG2000Lossless:
        ds.PhotometricInterpretation = "YBR_RCT"
        kwargs["use_mct"] = True
    if int(ds.SamplesPerPixel) > 1:
        ds.PlanarConfiguration = 0  # our arrays are pixel-interleaved; encoders take them so
    _drop_extended_offsets(ds)
    compress(ds, target, _squeeze(redacted), generate_instance_uid=False, **kwargs)


def _decoded(ds: Dataset, shape: tuple[int, ...]) -> np.ndarray:
    try:
        arr, _ = as_array(ds)
    except Exception as exc:
        raise EncodeFailed(f"re-encoded pixel data does not decode ({type(exc).__name__})") from None
    if arr.size != int(np.prod(shape)):
        raise EncodeFailed("re-encoded pixel data has another geometry")
    return arr.reshape(shape)


def verify(ds: Dataset, expected: np.ndarray) -> None:
    """Decode what we wrote, a frame at a time; anything but an exact match with ``expected``
    (frames, rows, cols, samples) is a failure."""
    count = 0
    try:
        for index, frame in enumerate(iter_frames(ds)):
            if index >= len(expected) or frame.size != expected[index].size:
                raise EncodeFailed("re-encoded pixel data has another geometry")
            if not np.array_equal(frame.reshape(expected[index].shape), expected[index]):
                raise EncodeFailed("re-encoded pixel data does not match the redacted frames")
            count += 1
    except EncodeFailed:
        raise
    except Exception as exc:
        raise EncodeFailed(f"re-encoded pixel data does not decode ({type(exc).__name__})") from None
    if count != len(expected):
        raise EncodeFailed("re-encoded pixel data has another geometry")
