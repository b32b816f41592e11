"""Test helpers: real test files from pydicom / pydicom-data, sample data paths."""
from __future__ import annotations

import shutil
import sys
from pathlib import Path

import cv2
import numpy as np
import pydicom
from pydicom.data import get_testdata_file

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "sample_data" / "dicom"
TRUTH = ROOT / "sample_data" / "truth.json"
ANNOTATIONS = Path(__file__).resolve().parent / "annotations"

sys.path.insert(0, str(ROOT / "benchmarks"))  # the benchmarks' input makers
import inputs  # noqa: E402

video = inputs.video  # no test file comes as video


def data_path(name: str) -> Path:
    """Path of a pydicom / pydicom-data test file (offline)."""
    path = get_testdata_file(name)
    if path is None:
        raise FileNotFoundError(name)
    return Path(path)


def copy_in(names: list[str], folder: Path) -> Path:
    """Copy real test files into a fresh input folder (inputs are never touched in place)."""
    folder.mkdir(parents=True, exist_ok=True)
    for name in names:
        shutil.copy(data_path(name), folder / name)
    return folder


def htj2k(name: str, syntax: str, photometric: str | None = None, **options) -> pydicom.Dataset:
    """A test file's frames written as HTJ2K by OpenJPH (imagecodecs' ``htj2k_encode`` options):
    no test file comes in HTJ2K, and pydicom reads it but cannot write it."""
    import imagecodecs
    from pydicom.encaps import encapsulate

    ds = pydicom.dcmread(data_path(name))
    arr = ds.pixel_array
    frames = arr if int(getattr(ds, "NumberOfFrames", 1) or 1) > 1 else arr[None]
    ds.PixelData = encapsulate([imagecodecs.htj2k_encode(frame, **options) for frame in frames], has_bot=True)
    ds["PixelData"].VR = "OB"
    ds["PixelData"].is_undefined_length = True
    ds.file_meta.TransferSyntaxUID = syntax
    if photometric is not None:
        ds.PhotometricInterpretation = photometric
    if "PlanarConfiguration" in ds:
        ds.PlanarConfiguration = 0
    if options.get("reversible") is False:
        ds.LossyImageCompression = "01"
    return ds


def encapsulated_uncompressed(name: str) -> pydicom.Dataset:
    """A test file's frames as Encapsulated Uncompressed Explicit VR Little Endian (one native frame
    per fragment): no test file comes in that syntax, and pydicom 3.0 cannot write it."""
    from pydicom.encaps import encapsulate

    ds = pydicom.dcmread(data_path(name))
    arr = ds.pixel_array
    frames = arr if int(getattr(ds, "NumberOfFrames", 1) or 1) > 1 else arr[None]
    if "PlanarConfiguration" in ds:
        ds.PlanarConfiguration = 0
    kind = "i" if int(ds.PixelRepresentation) else "u"
    fragments = [frame.astype(f"<{kind}{int(ds.BitsAllocated) // 8}").tobytes() for frame in frames]
    ds.PixelData = encapsulate([f + b"\0" * (len(f) % 2) for f in fragments], has_bot=True)
    ds["PixelData"].VR = "OB"
    ds["PixelData"].is_undefined_length = True
    ds.file_meta.TransferSyntaxUID = "1.2.840.10008.1.2.1.98"
    return ds


def read(path: Path) -> pydicom.Dataset:
    return pydicom.dcmread(path)


def without_preamble(ds: pydicom.Dataset, path: Path, with_meta: bool = False) -> Path:
    """``ds`` written to ``path`` as older archives hold it: no preamble, and no file meta (implicit
    VR little endian) or, ``with_meta``, its file meta and the encoding that names."""
    from pydicom.filebase import DicomBytesIO
    from pydicom.filewriter import write_dataset, write_file_meta_info

    out = DicomBytesIO()
    out.is_little_endian, out.is_implicit_VR = True, True
    if with_meta:
        write_file_meta_info(out, ds.file_meta)
        syntax = ds.file_meta.TransferSyntaxUID
        out.is_little_endian, out.is_implicit_VR = syntax.is_little_endian, syntax.is_implicit_VR
    write_dataset(out, ds)
    path.write_bytes(out.getvalue())
    return path


def color3d_series(folder: Path, indices: list[int]) -> list[Path]:
    """Frames of the color3d clip as single-frame files of one layout (JPEG baseline, calibration
    kept), as an ultrasound series exports them: the case where layout reuse matters."""
    from pydicom.encaps import encapsulate, generate_frames
    from pydicom.uid import generate_uid

    clip = pydicom.dcmread(data_path("color3d_jpeg_baseline.dcm"))
    fragments = list(generate_frames(clip.PixelData, number_of_frames=int(clip.NumberOfFrames)))
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for position, index in enumerate(indices):
        ds = clip.copy()
        ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
        ds.PixelData = encapsulate([fragments[index]])
        ds.NumberOfFrames = 1
        paths.append(folder / f"frame-{position:03d}.dcm")
        ds.save_as(paths[-1], enforce_file_format=True)
    return paths


def dilate(mask: np.ndarray, px: int) -> np.ndarray:
    """Grow a boolean mask by ``px`` pixels in every direction (a square neighbourhood)."""
    padded = np.pad(mask, px)
    out = np.zeros_like(mask)
    rows, cols = mask.shape
    for dy in range(2 * px + 1):
        for dx in range(2 * px + 1):
            out |= padded[dy : dy + rows, dx : dx + cols]
    return out


class Counted:
    """A detector whose calls are reported to ``record(images)`` first; its name, closer-look
    detector, crop zoom and training normalisation are kept, so detections are named and routed as
    the real one's."""

    def __init__(self, detector, record) -> None:
        self.detector, self.record = detector, record
        self.name, self.marks = detector.name, getattr(detector, "marks", detector)
        self.crop_zoom = getattr(detector, "crop_zoom", 1.0)
        self.trained = getattr(detector, "trained", False)

    def __call__(self, images, **kwargs):
        self.record(images)
        return self.detector(images, **kwargs)


def us1_with_a_banner(ground: int, ink: int, scale: float = 0.5) -> tuple[np.ndarray, tuple[int, int, int, int]]:
    """The real US1 frame with a name 25 grey levels off a grey banner 5 px larger than the name,
    just below the tissue (a label field of an exported screen), through JPEG q85; and the
    name's ink box."""
    frame = np.ascontiguousarray(pydicom.dcmread(data_path("US1_UNCR.dcm")).pixel_array)
    ink_layer = np.zeros(frame.shape[:2], np.uint8)
    cv2.putText(ink_layer, "DOE JANE 1960", (26, 362), cv2.FONT_HERSHEY_SIMPLEX, scale, 255, 1, cv2.LINE_AA)
    x, y, w, h = cv2.boundingRect(cv2.findNonZero((ink_layer >= 128).astype(np.uint8)))
    cv2.rectangle(frame, (x - 5, y - 5), (x + w + 5, y + h + 5), (ground,) * 3, -1)
    alpha = ink_layer[..., None].astype(np.float32) / 255
    frame = np.rint(frame * (1 - alpha) + ink * alpha).astype(np.uint8)
    frame = cv2.imdecode(cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, 85])[1], cv2.IMREAD_UNCHANGED)
    return frame, (x, y, x + w, y + h)


def recall_sweep():
    """benchmarks/recall_sweep.py as a module: tests draw the sweep's labels with its own code."""
    import importlib
    import sys

    if str(ROOT / "benchmarks") not in sys.path:
        sys.path.insert(0, str(ROOT / "benchmarks"))
    return importlib.import_module("recall_sweep")


def burned_case(wanted: dict):
    """pydicom-data's cardiac clip (color3d) and the recall sweep's case burned into 12 of its
    frames under ``wanted`` (its "static" or "colour-clip" labels, over the sector)."""
    sweep = recall_sweep()
    clip = pydicom.dcmread(data_path("color3d_jpeg_baseline.dcm"))
    frames = clip.pixel_array
    return clip, next(c for c in [*sweep.static_cases(frames), *sweep.colour_clip_cases(frames)]
                      if c.condition == wanted)


def glyph_covered(boxes, shape: tuple[int, int], glyph: tuple[int, int, np.ndarray]) -> float:
    """Share of a sweep label's glyph pixels (``glyph``: its x, y and mask) inside ``boxes``, on an
    image of ``shape`` (rows, columns)."""
    x, y, mask = glyph
    blanked = np.zeros(shape, bool)
    for x0, y0, x1, y1 in boxes:
        blanked[y0:y1, x0:x1] = True
    return float(blanked[y:y + mask.shape[0], x:x + mask.shape[1]][mask].mean())
