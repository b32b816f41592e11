"""Codecs: what writing a redacted file back in its own syntax costs, in quality, size and time.

    .venv/bin/python benchmarks/writeback.py [--json benchmarks/results/codecs.json] [--markdown]

(also the "codecs" section of benchmarks/suite.py). Named so as not to shadow the standard
library's ``codecs`` module when run from this folder.

JPEG baseline clip (pydicom-data color3d_jpeg_baseline.dcm, 120 frames 640x480, static text banner),
scrubbed with the default ``Policy(device="cpu")`` (jpeg_dct): per-frame PSNR against the input's decode
away from the redaction (outside the boxes grown to whole 16x16 MCUs plus 1 px), output Pixel Data
size, and the encode stage's time, each against a naive decode + Pillow quality-95 re-encode of
every frame. Lossless multi-frame files: one box in one frame, ``scrubber.pixels.encode.encode``
(untouched frames keep their bytes) against pydicom's ``compress`` of the whole redacted array (for
HTJ2K, which pydicom cannot write, OpenJPH on every frame). Single JPEG frames (12-bit and 8-bit):
one box through the DCT path, its time and whether the image away from the box is unchanged.
Video: the JPEG clip's frames encoded as H.264, MPEG-2 and HEVC by FFmpeg, scrubbed whole (written
as JPEG 2000 Lossless: re-encoding video would be lossy everywhere), sizes and times.
``--markdown`` prints the README table from an existing ``--json`` file instead of running.
"""
from __future__ import annotations

import argparse
import copy
import io
import json
import math
import sys
import time
from datetime import date
from importlib.metadata import version
from pathlib import Path

import imagecodecs
import numpy as np
import pydicom
from PIL import Image
from pydicom.data import get_testdata_file
from pydicom.encaps import encapsulate, generate_frames
from pydicom.pixels import get_decoder
from pydicom.pixels.utils import compress
from pydicom.uid import UID, HTJ2KLosslessRPCL, RLELossless

from accuracy import annotated_set
from machine import machine, save
from scrubber.detect.ocr import default_threads
from scrubber.detect.registry import detector_for
from scrubber.pipeline import scrub_dataset
from scrubber.pixels import htj2k, jpeg_entropy
from scrubber.pixels.decode import decode
from scrubber.pixels.encode import HTJ2K_SYNTAXES, encode
from scrubber.pixels.fill import fill_value
from scrubber.pixels.jpeg_dct import blocks_to_blank, plane_blocks
from scrubber.pixels.redact import box_mask, redact
from scrubber.policy import Policy

CLIP = "color3d_jpeg_baseline.dcm"
MCU = 16
HALO = 1
NAIVE_QUALITY = 95
LOSSLESS = ("emri_small_RLE.dcm", "emri_small_jpeg_2k_lossless.dcm")
JPEG_FRAMES = ("JPGExtended.dcm", "SC_rgb_dcmtk_+eb+cy+s2.dcm")  # 12-bit (own codec) and 8-bit (jpeglib)
VIDEO = (("H.264", "1.2.840.10008.1.2.4.102"), ("MPEG-2", "1.2.840.10008.1.2.4.100"),
         ("HEVC", "1.2.840.10008.1.2.4.107"))
PACKAGES = ("pydicom", "pylibjpeg", "pylibjpeg-libjpeg", "pylibjpeg-openjpeg", "pylibjpeg-rle", "jpeglib",
            "imagecodecs", "numpy", "pillow", "av")


def raw_frames(ds: pydicom.Dataset) -> np.ndarray:
    """(frames, rows, cols, samples) as the codec gives them, no colour conversion."""
    arr, _ = get_decoder(ds.file_meta.TransferSyntaxUID).as_array(ds, raw=True)
    return arr.reshape(int(getattr(ds, "NumberOfFrames", 1) or 1), int(ds.Rows), int(ds.Columns), -1)


def away_mask(boxes: list, rows: int, cols: int) -> np.ndarray:
    """True away from the redaction: outside the boxes grown to whole MCUs, plus HALO pixels."""
    grown = np.zeros((rows, cols), bool)
    for x0, y0, x1, y1 in boxes:
        x0, y0, x1, y1 = max(0, x0 - HALO), max(0, y0 - HALO), x1 + HALO, y1 + HALO
        grown[y0 // MCU * MCU : -(-y1 // MCU) * MCU, x0 // MCU * MCU : -(-x1 // MCU) * MCU] = True
    padded = np.pad(grown, HALO)
    near = np.zeros_like(grown)
    for dy in range(2 * HALO + 1):
        for dx in range(2 * HALO + 1):
            near |= padded[dy : dy + rows, dx : dx + cols]
    return ~near


def psnr(a: np.ndarray, b: np.ndarray, peak: int = 255) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return math.inf if mse == 0 else 10 * math.log10(peak**2 / mse)


def db(value: float) -> float | str:
    return "inf" if math.isinf(value) else round(value, 2)


def naive_reencode(ds: pydicom.Dataset, boxes: list[list]) -> tuple[pydicom.Dataset, float]:
    """Decode every frame, black out the boxes, encode every frame again with Pillow at quality 95."""
    started = time.perf_counter()
    frames = decode(ds, 1 << 30)
    redacted = redact(frames.stored, boxes, fill_value(frames, ds))
    fragments = []
    for frame in redacted:
        buffer = io.BytesIO()
        Image.frombytes("YCbCr", (frame.shape[1], frame.shape[0]), np.ascontiguousarray(frame).tobytes()).save(
            buffer, "JPEG", quality=NAIVE_QUALITY, subsampling=1)  # 4:2:2 like the input
        fragments.append(buffer.getvalue())
    out = copy.deepcopy(ds)
    out.PixelData = encapsulate(fragments, has_bot=True)
    return out, time.perf_counter() - started


def bits_split(before: bytes, after: bytes, mask: np.ndarray) -> tuple[int, int, int, int]:
    """Entropy-coded bits of one frame (jpeg_entropy.block_bits) inside and outside the blocks that
    the DCT path blanks for ``mask``: (inside before, inside after, outside before, outside after)."""
    blanked = blocks_to_blank(before, mask)
    bits = [jpeg_entropy.block_bits(jpeg_entropy.read(data)) for data in (before, after)]
    split = [0, 0, 0, 0]
    for index, touched in enumerate(blanked):
        inside = plane_blocks(touched, bits[0][index].shape)  # the coded grid is padded to whole MCUs
        for side, where in ((0, inside), (2, ~inside)):
            split[side] += int(bits[0][index][where].sum())
            split[side + 1] += int(bits[1][index][where].sum())
    return split[0], split[1], split[2], split[3]


def jpeg_clip(detector) -> dict[str, object]:
    """The clip scrubbed with jpeg_dct, against a naive decode + quality-95 re-encode."""
    ds = pydicom.dcmread(get_testdata_file(CLIP))
    started = time.perf_counter()
    result = scrub_dataset(ds, Policy(device="cpu"), detector)  # jpeg_dct is the default
    scrub_seconds = time.perf_counter() - started
    naive, naive_seconds = naive_reencode(ds, result.boxes)
    before, dct, plain = raw_frames(ds), raw_frames(result.dataset), raw_frames(naive)
    rows, cols = before.shape[1:3]
    dct_psnr, naive_psnr = [], []
    for index, boxes in enumerate(result.boxes):
        away = away_mask(boxes, rows, cols)
        dct_psnr.append(psnr(before[index][away], dct[index][away]))
        naive_psnr.append(psnr(before[index][away], plain[index][away]))
    size_in, size_out, size_naive = (len(d.PixelData) for d in (ds, result.dataset, naive))
    encode_seconds = result.timings["encode"]
    split = np.zeros(4, np.int64)  # in first, middle and last frame (the pure Python reader is slow)
    truth_split = np.zeros(4, np.int64)  # the same for the annotated text boxes alone
    truth = annotated_set()[CLIP][1]["boxes"]
    fragments = [list(generate_frames(d.PixelData, number_of_frames=result.frames)) for d in (ds, result.dataset)]
    for index in sorted({0, result.frames // 2, result.frames - 1}):
        mask = box_mask(result.boxes[index], rows, cols)
        split += bits_split(fragments[0][index], fragments[1][index], mask)
        text = box_mask([tuple(b["box"]) for b in truth if b.get("frame") in (None, index)], rows, cols)
        truth_split += bits_split(fragments[0][index], fragments[0][index], text)
    return {
        "file": CLIP, "kind": "jpeg_dct", "frames": result.frames, "boxes": result.boxes_removed,
        "frames_with_boxes": sum(1 for b in result.boxes if b), "method": result.encode_method,
        "syntax_out": result.syntax_out,
        "psnr_min_db": db(min(dct_psnr)), "psnr_median_db": db(float(np.median(dct_psnr))),
        "frames_identical_away": sum(math.isinf(p) for p in dct_psnr),
        "naive_psnr_min_db": db(min(naive_psnr)), "naive_psnr_median_db": db(float(np.median(naive_psnr))),
        "pixel_data_in": size_in, "pixel_data_out": size_out,
        "size_change": round(size_out / size_in - 1, 5), "naive_pixel_data": size_naive,
        "naive_size_change": round(size_naive / size_in - 1, 5),
        "blanked_share_of_bits": round(int(split[0]) / int(split[0] + split[2]), 4),
        "truth_blocks_share_of_bits": round(int(truth_split[0]) / int(truth_split[0] + truth_split[2]), 4),
        "size_change_outside_blanked": round(int(split[3]) / int(split[2]) - 1, 5),
        "encode_s": round(encode_seconds, 3), "naive_encode_s": round(naive_seconds, 3),
        "naive_over_encode": round(naive_seconds / encode_seconds, 2), "scrub_s": round(scrub_seconds, 1),
        "timings": {k: round(v, 3) for k, v in result.timings.items()},
    }


def clip_as_rle() -> pydicom.Dataset:
    """The same clip, decoded and stored as RLE Lossless (RGB, 120 frames): a large lossless case."""
    ds = pydicom.dcmread(get_testdata_file(CLIP))
    arr = ds.pixel_array
    ds.PhotometricInterpretation = "RGB"
    compress(ds, RLELossless, arr, generate_instance_uid=False)
    return ds


def clip_as_htj2k() -> pydicom.Dataset:
    """The same clip as HTJ2K Lossless RPCL (RGB through the RCT, TLM markers), written by OpenJPH."""
    ds = pydicom.dcmread(get_testdata_file(CLIP))
    arr = ds.pixel_array
    ds.PixelData = encapsulate([imagecodecs.htj2k_encode(frame, reversible=True, rgb=True, tlm=True, tilepart=1)
                                for frame in arr], has_bot=True)
    ds["PixelData"].VR = "OB"
    ds["PixelData"].is_undefined_length = True
    ds.PhotometricInterpretation, ds.PlanarConfiguration = "YBR_RCT", 0
    ds.file_meta.TransferSyntaxUID = HTJ2KLosslessRPCL
    return ds


def compress_all(ds: pydicom.Dataset, array: np.ndarray) -> None:
    """Every frame encoded again: pydicom's ``compress``, or OpenJPH for HTJ2K (pydicom cannot)."""
    syntax = ds.file_meta.TransferSyntaxUID
    if syntax not in HTJ2K_SYNTAXES:
        compress(ds, syntax, array, generate_instance_uid=False)
        return
    count = int(getattr(ds, "NumberOfFrames", 1) or 1)
    like = list(generate_frames(ds.PixelData, number_of_frames=count))
    frames = array if count > 1 else array[None]
    ds.PixelData = encapsulate([htj2k.encode_like(frame, like[i]) for i, frame in enumerate(frames)], has_bot=True)


def lossless(name: str, ds: pydicom.Dataset) -> dict[str, object]:
    """One box in the middle frame: encode keeping untouched frames, against compressing them all.

    ``encode`` decodes every frame again to prove the result; the all-frames side is timed without
    and with that same check (a decode of the whole output compared with the redacted array).
    """
    frames = decode(ds, 1 << 30)
    count, rows, cols = frames.stored.shape[:3]
    box = (cols // 4, rows // 4, cols // 2, rows // 3)
    boxes = [[box] if index == count // 2 else [] for index in range(count)]
    redacted = redact(frames.stored, boxes, fill_value(frames, ds))
    syntax = ds.file_meta.TransferSyntaxUID
    kept = copy.deepcopy(ds)
    started = time.perf_counter()
    encoded = encode(kept, frames, redacted, boxes)
    kept_seconds = time.perf_counter() - started
    every = copy.deepcopy(ds)
    array = redacted[..., 0] if redacted.shape[-1] == 1 else redacted
    if int(ds.SamplesPerPixel) > 1:
        every.PlanarConfiguration = 0
    started = time.perf_counter()
    compress_all(every, array)
    every_seconds = time.perf_counter() - started
    if not np.array_equal(raw_frames(every), redacted):
        raise RuntimeError(f"{name}: compress of the whole array does not decode back")
    checked_seconds = time.perf_counter() - started
    return {
        "file": name, "kind": "lossless", "syntax": syntax.name, "frames": count,
        "size": f"{cols}x{rows}x{int(ds.SamplesPerPixel)}x{int(ds.BitsAllocated)}b", "method": encoded.method,
        "encode_s": round(kept_seconds, 4), "compress_all_s": round(every_seconds, 4),
        "compress_all_checked_s": round(checked_seconds, 4),
        "checked_all_over_kept": round(checked_seconds / kept_seconds, 2),
        "pixel_data_in": len(ds.PixelData), "pixel_data_out": len(kept.PixelData),
        "compress_all_pixel_data": len(every.PixelData),
    }


def jpeg_frame(name: str) -> dict[str, object]:
    """One box in a single-frame JPEG through the DCT path (12-bit: our own coefficient codec)."""
    ds = pydicom.dcmread(get_testdata_file(name))
    frames = decode(ds, 1 << 30)
    rows, cols = frames.stored.shape[1:3]
    boxes = [[(cols // 4, rows // 4, cols // 2, rows // 3)]]
    redacted = redact(frames.stored, boxes, fill_value(frames, ds))
    out = copy.deepcopy(ds)
    started = time.perf_counter()
    encoded = encode(out, frames, redacted, boxes, jpeg_dct=True)
    seconds = time.perf_counter() - started
    away = away_mask(boxes[0], rows, cols)
    identical = bool(np.array_equal(raw_frames(ds)[0][away], raw_frames(out)[0][away]))
    return {
        "file": name, "kind": "jpeg_dct_frame", "syntax": ds.file_meta.TransferSyntaxUID.name,
        "size": f"{cols}x{rows}x{int(ds.SamplesPerPixel)}x{int(ds.BitsStored)}b", "method": encoded.method,
        "syntax_kept": encoded.syntax == str(ds.file_meta.TransferSyntaxUID), "identical_away": identical,
        "encode_s": round(seconds, 3), "pixel_data_in": len(ds.PixelData), "pixel_data_out": len(out.PixelData),
    }


def video_clip(name: str, syntax: str, detector) -> dict[str, object]:
    """The JPEG clip's 120 frames encoded as a video stream by FFmpeg (``inputs.video``: no test
    file comes as video), scrubbed whole: the syntax it is written in, its size against the
    stream's and against the frames written natively, and the stages' time."""
    import inputs

    frames = pydicom.dcmread(get_testdata_file(CLIP)).pixel_array
    ds = inputs.video(frames, syntax)
    started = time.perf_counter()
    result = scrub_dataset(ds, Policy(device="cpu"), detector)
    seconds = time.perf_counter() - started
    return {
        "kind": "video", "file": f"{CLIP} as {name}", "syntax": UID(syntax).name, "frames": result.frames,
        "written_as": UID(result.syntax_out).name, "method": result.encode_method, "boxes": result.boxes_removed,
        "pixel_data_in": len(ds.PixelData), "pixel_data_out": len(result.dataset.PixelData),
        "native_bytes": int(frames.nbytes), "decode_s": round(result.timings["decode"], 3),
        "encode_s": round(result.timings["encode"], 3), "scrub_s": round(seconds, 2),
    }


def _percent(value: float | None, sign: str = "") -> str:
    return "" if value is None else f"{100 * value:{sign}.2f} %"


CLIP_COLUMNS = ("file", "frames", "method", "PSNR away from boxes, min / median", "naive q95 PSNR min / median",
                "Pixel Data vs input", "coded size change outside the blanked blocks", "input bits in the blanked blocks",
                "input bits in the blocks of the annotated text alone", "naive q95 size", "encode s", "naive decode+encode s", "ratio", "whole scrub s")
LOSSLESS_COLUMNS = ("file", "syntax", "frames", "size", "method", "encode, untouched frames kept (s)",
                    "compress all frames (s)", "compress all + decode check (s)", "ratio (checked)",
                    "Pixel Data in / kept / all")
VIDEO_COLUMNS = ("file", "syntax", "frames", "written as", "method", "boxes", "Pixel Data in / out / native",
                 "decode s", "encode s (decode check included)", "whole scrub s")
FRAME_COLUMNS = ("file", "syntax", "size", "method", "syntax kept", "identical away from the box",
                 "encode s (decode check included)", "Pixel Data in / out")


def _clip_cells(r: dict) -> list[object]:
    return [r["file"], r["frames"], r["method"],
            f"{r['psnr_min_db']} / {r['psnr_median_db']} dB ({r['frames_identical_away']}/{r['frames']} identical)",
            f"{r['naive_psnr_min_db']} / {r['naive_psnr_median_db']} dB", _percent(r["size_change"], "+"),
            _percent(r.get("size_change_outside_blanked"), "+"), _percent(r.get("blanked_share_of_bits")),
            _percent(r.get("truth_blocks_share_of_bits")), _percent(r["naive_size_change"], "+"), r["encode_s"], r["naive_encode_s"], f"{r['naive_over_encode']}x",
            r["scrub_s"]]


def _lossless_cells(r: dict) -> list[object]:
    return [r["file"], r["syntax"], r["frames"], r["size"], r["method"], r["encode_s"], r["compress_all_s"],
            r["compress_all_checked_s"], f"{r['checked_all_over_kept']}x",
            f"{r['pixel_data_in']} / {r['pixel_data_out']} / {r['compress_all_pixel_data']}"]


def _frame_cells(r: dict) -> list[object]:
    return [r["file"], r["syntax"], r["size"], r["method"], r["syntax_kept"], r["identical_away"], r["encode_s"],
            f"{r['pixel_data_in']} / {r['pixel_data_out']}"]


def _video_cells(r: dict) -> list[object]:
    return [r["file"], r["syntax"], r["frames"], r["written_as"], r["method"], r["boxes"],
            f"{r['pixel_data_in']} / {r['pixel_data_out']} / {r['native_bytes']}", r["decode_s"], r["encode_s"],
            r["scrub_s"]]


def _row(cells: list[object] | tuple[str, ...]) -> str:
    return "| " + " | ".join(str(cell) for cell in cells) + " |"


def _table(columns: tuple[str, ...], rows: list[list[object]]) -> list[str]:
    return [_row(columns), "|" + "---|" * len(columns), *(_row(cells) for cells in rows)]


def markdown(results: dict) -> str:
    """The README tables, from a results JSON: the JPEG clip, the lossless files, single JPEG frames,
    video clips (the last two where the results have them)."""
    tables = []
    for kind, columns, cells in (("jpeg_dct", CLIP_COLUMNS, _clip_cells),
                                 ("lossless", LOSSLESS_COLUMNS, _lossless_cells),
                                 ("jpeg_dct_frame", FRAME_COLUMNS, _frame_cells),
                                 ("video", VIDEO_COLUMNS, _video_cells)):
        rows = [cells(r) for r in results["rows"] if r["kind"] == kind]
        if rows or kind not in ("jpeg_dct_frame", "video"):
            tables.append("\n".join(_table(columns, rows)))
    return "\n\n".join(tables)


def all_rows(detector) -> list[dict[str, object]]:
    """The JPEG clip with jpeg_dct, then the lossless files (each row printed as it is done)."""
    rows = [jpeg_clip(detector)]
    print(json.dumps(rows[-1]), flush=True)
    for name in LOSSLESS:
        rows.append(lossless(name, pydicom.dcmread(get_testdata_file(name))))
        print(json.dumps(rows[-1]), flush=True)
    rows.append(lossless(f"{CLIP} as RLE", clip_as_rle()))
    print(json.dumps(rows[-1]), flush=True)
    rows.append(lossless(f"{CLIP} as HTJ2K RPCL", clip_as_htj2k()))
    print(json.dumps(rows[-1]), flush=True)
    for name in JPEG_FRAMES:
        rows.append(jpeg_frame(name))
        print(json.dumps(rows[-1]), flush=True)
    for name, syntax in VIDEO:
        rows.append(video_clip(name, syntax, detector))
        print(json.dumps(rows[-1]), flush=True)
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", help="write results here (with --markdown: read them from here)")
    parser.add_argument("--markdown", action="store_true", help="print the README tables from --json")
    args = parser.parse_args()
    if args.markdown:
        print(markdown(json.loads(Path(args.json).read_text())))
        return 0
    results = {
        "benchmark": "codecs", "date": date.today().isoformat(),
        "command": " ".join([".venv/bin/python benchmarks/writeback.py", *sys.argv[1:]]),
        "machine": machine(), "versions": {name: version(name) for name in PACKAGES},
        "rows": all_rows(detector_for(Policy(device="cpu"), default_threads(1))),
    }
    print(markdown(results))
    save(args.json, results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
