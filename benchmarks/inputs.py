"""The inputs of the speed and scaling rows, made from real test files and our sample data.

Every file is written into a work folder; nothing under the repository changes. Copies of one
input get new SOP Instance UIDs so that no output path collides; their pixels are the same, so
the speed rows turn layout reuse off (each copy costs what an independent image costs), and the
series row, which measures reuse, uses distinct frames.
"""
from __future__ import annotations

import copy
import io
from pathlib import Path

import cv2
import numpy as np
import pydicom
from pydicom.data import get_testdata_file
from pydicom.encaps import encapsulate, generate_frames
from pydicom.uid import ExplicitVRLittleEndian, SecondaryCaptureImageStorage, generate_uid

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "sample_data" / "dicom"

# kind -> (what it is, how it is made)
KINDS: dict[str, str] = {
    "us_frame": "one 640x480 US frame (pydicom-data US1_UNCR, RGB, Explicit VR LE)",
    "cine": "120-frame 640x480 US clip (pydicom-data color3d_jpeg_baseline, YBR JPEG baseline)",
    "sc16": "1024x768 16-bit SC (sample_data sc_16bit, 12 bits stored, resized; Explicit VR LE)",
    "report": "report screenshot (sample_data sc_screenshot, 800x600 RGB, RLE Lossless)",
}


def secondary_capture(pixels: np.ndarray, patient_name: str, patient_id: str) -> pydicom.Dataset:
    """A Secondary Capture image (Explicit VR LE, new UIDs) around 8-bit grey ``pixels``, with a
    patient name and ID in the header (the node benchmark and its tests send these)."""
    ds = pydicom.Dataset()
    ds.file_meta = pydicom.dataset.FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.SOPClassUID = ds.file_meta.MediaStorageSOPClassUID = SecondaryCaptureImageStorage
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
    ds.StudyInstanceUID, ds.SeriesInstanceUID = generate_uid(), generate_uid()
    ds.PatientName, ds.PatientID, ds.Modality = patient_name, patient_id, "OT"
    ds.Rows, ds.Columns = pixels.shape
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 8, 8, 7, 0
    ds.PixelData = np.ascontiguousarray(pixels, np.uint8).tobytes()
    return ds


def _fresh(ds: pydicom.Dataset) -> pydicom.Dataset:
    out = copy.deepcopy(ds)
    out.SOPInstanceUID = generate_uid()
    out.file_meta.MediaStorageSOPInstanceUID = out.SOPInstanceUID
    return out


def first_frames(ds: pydicom.Dataset, count: int) -> pydicom.Dataset:
    """A copy of an encapsulated clip that keeps its first ``count`` frames, fragments as they are;
    a longer one plays the clip forwards and backwards (the image moves on, the text stays)."""
    out = _fresh(ds)
    frames = list(generate_frames(ds.PixelData, number_of_frames=int(ds.NumberOfFrames)))
    loop = frames + frames[::-1]
    out.PixelData = encapsulate([loop[index % len(loop)] for index in range(count)])
    out.NumberOfFrames = count
    return out


def native(ds: pydicom.Dataset) -> pydicom.Dataset:
    """A copy in Explicit VR Little Endian of what pydicom shows (YBR as RGB)."""
    out = _fresh(ds)
    out.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    if getattr(out, "PhotometricInterpretation", "").startswith("YBR"):
        out.PhotometricInterpretation = "RGB"
    if "PlanarConfiguration" in out:
        out.PlanarConfiguration = 0
    out.PixelData = np.ascontiguousarray(ds.pixel_array).tobytes()
    out["PixelData"].VR = "OB" if int(ds.BitsAllocated) == 8 else "OW"
    out["PixelData"].is_undefined_length = False
    return out


def resized(ds: pydicom.Dataset, cols: int, rows: int) -> pydicom.Dataset:
    """A native single-frame copy at another size (text scales with the image, as on a screen)."""
    out = native(ds)
    pixels = ds.pixel_array
    interpolation = cv2.INTER_AREA if cols < ds.Columns else cv2.INTER_LINEAR
    scaled = cv2.resize(pixels, (cols, rows), interpolation=interpolation).astype(pixels.dtype)
    out.Rows, out.Columns = rows, cols
    out.PixelData = np.ascontiguousarray(scaled).tobytes()
    for keyword in ("SequenceOfUltrasoundRegions",):  # calibration of the old size would lie
        if keyword in out:
            del out[keyword]
    return out


def source(kind: str) -> pydicom.Dataset:
    """The dataset a speed kind is made from."""
    if kind == "us_frame":
        return pydicom.dcmread(get_testdata_file("US1_UNCR.dcm"))
    if kind == "cine":
        return pydicom.dcmread(get_testdata_file("color3d_jpeg_baseline.dcm"))
    if kind == "sc16":
        return resized(pydicom.dcmread(SAMPLES / "sc_16bit.dcm"), 1024, 768)
    if kind == "report":
        return pydicom.dcmread(SAMPLES / "sc_screenshot.dcm")
    raise ValueError(f"unknown kind {kind!r}; known: {', '.join(KINDS)}")


def copies(ds: pydicom.Dataset, folder: Path, count: int, stem: str) -> list[Path]:
    """``count`` copies of ``ds`` (new instance UIDs) in ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for index in range(count):
        path = folder / f"{stem}-{index:03d}.dcm"
        _fresh(ds).save_as(path, enforce_file_format=True)
        paths.append(path)
    return paths


def series_datasets(count: int) -> list[pydicom.Dataset]:
    """``count`` single-frame images of one layout: the frames of the color3d clip, one each."""
    clip = pydicom.dcmread(get_testdata_file("color3d_jpeg_baseline.dcm"))
    fragments = list(generate_frames(clip.PixelData, number_of_frames=int(clip.NumberOfFrames)))
    out = []
    for index in range(count):
        ds = _fresh(clip)
        ds.PixelData = encapsulate([fragments[index % len(fragments)]])
        ds.NumberOfFrames = 1
        out.append(ds)
    return out


def series(folder: Path, count: int) -> list[Path]:
    """``series_datasets`` written as files in ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for index, ds in enumerate(series_datasets(count)):
        path = folder / f"frame-{index:03d}.dcm"
        ds.save_as(path, enforce_file_format=True)
        paths.append(path)
    return paths


VIDEO = {  # transfer syntax -> (PyAV container format, encoder)
    "1.2.840.10008.1.2.4.100": ("mpeg2video", "mpeg2video"),
    "1.2.840.10008.1.2.4.102": ("h264", "libx264"),
    "1.2.840.10008.1.2.4.107": ("hevc", "libx265"),
}


def video(frames: np.ndarray, syntax: str = "1.2.840.10008.1.2.4.102", fragment: int = 0) -> pydicom.Dataset:
    """pydicom-data's color3d header over ``frames`` (RGB) encoded as a video stream by FFmpeg
    (PyAV): no test file comes as video. ``fragment``: the stream cut into fragments of that many
    bytes, as the fragmentable syntaxes allow."""
    import av

    form, codec = VIDEO[syntax.removesuffix(".1")]
    out = io.BytesIO()
    with av.open(out, mode="w", format=form) as container:
        video_stream = container.add_stream(codec, rate=25)
        video_stream.width, video_stream.height, video_stream.pix_fmt = frames.shape[2], frames.shape[1], "yuv420p"
        if codec.startswith("libx26"):  # near the input, as a device's recorder would be set
            video_stream.options = {"crf": "12", **({"x265-params": "log-level=none"} if codec == "libx265" else {})}
        else:  # MPEG-2 at 8 Mbit/s (its Main Level allows 15; FFmpeg's default, 0.2, smears the text)
            video_stream.bit_rate = 8_000_000
        for frame in frames:
            container.mux(video_stream.encode(av.VideoFrame.from_ndarray(np.ascontiguousarray(frame), format="rgb24")))
        container.mux(video_stream.encode())
    data = out.getvalue()
    pieces = [data[i:i + fragment] for i in range(0, len(data), fragment)] if fragment else [data]
    ds = pydicom.dcmread(get_testdata_file("color3d_jpeg_baseline.dcm"), stop_before_pixels=True)
    ds.NumberOfFrames = len(frames)
    ds.Rows, ds.Columns = frames.shape[1:3]
    ds.PhotometricInterpretation = "YBR_PARTIAL_420"
    ds.PixelData = encapsulate(pieces, has_bot=False)
    ds["PixelData"].VR = "OB"
    ds["PixelData"].is_undefined_length = True
    ds.file_meta.TransferSyntaxUID = syntax
    return ds
