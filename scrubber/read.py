"""Read a DICOM file without trusting it: truncation and garbage are errors, not warnings."""
from __future__ import annotations

import warnings
from pathlib import Path

import pydicom
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.errors import InvalidDicomError
from pydicom.uid import UID, ExplicitVRBigEndian, ExplicitVRLittleEndian, ImplicitVRLittleEndian

from .errors import InconsistentImage, NotDicom
from .quiet import no_warnings

TRUNCATION_HINTS = ("end of file", "truncated", "unexpected end", "not enough data")
DICOMDIR_CLASS = "1.2.840.10008.1.3.10"
# (implicit VR, little endian) as pydicom reads a data set that has no file meta -> its transfer syntax
ENCODINGS = {(True, True): ImplicitVRLittleEndian, (False, True): ExplicitVRLittleEndian,
             (False, False): ExplicitVRBigEndian}
# the group a file without the preamble starts with, when it is DICOM: its file meta, or a data
# set's lowest group (Identifying), in either byte order; anything else (a video, an archive) is
# not read further, as pydicom's ``force`` would load an arbitrary first "value" whole
FIRST_GROUPS = {b"\x02\x00", b"\x08\x00", b"\x00\x02", b"\x00\x08"}


def read(path: Path, header_only: bool = False) -> Dataset:
    """Read the whole file (pixel data included; with ``header_only``, the elements before it, as
    ``scrubber rules check`` needs); raise NotDicom or InconsistentImage."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            ds = pydicom.dcmread(path, stop_before_pixels=header_only)
        except InvalidDicomError:
            ds = _data_set_alone(path, header_only)
        except Exception as exc:  # pydicom's own errors too (BytesLengthException on a damaged length)
            raise NotDicom(f"not a readable DICOM file ({type(exc).__name__})") from None
        if any(hint in str(warning.message).lower() for warning in caught for hint in TRUNCATION_HINTS):
            raise InconsistentImage("file is truncated")
        try:  # pydicom parses each element when it is first used: a damaged one must fail here
            for _ in (*ds.file_meta.iterall(), *ds.iterall()):
                pass
        except Exception as exc:
            raise NotDicom(f"not a readable DICOM file: a data element cannot be parsed ({type(exc).__name__})") from None
    if len(ds) == 0:
        raise NotDicom("no data elements after the file meta information")
    if "TransferSyntaxUID" not in ds.file_meta:
        raise NotDicom("no Transfer Syntax UID in the file meta information")
    return ds


def _data_set_alone(path: Path, header_only: bool = False) -> Dataset:
    """``path`` read as a DICOM data set without the Part 10 preamble (older archives and some
    exports write them; DCMTK and pydicom's ``force`` read them so): with its file meta where it
    has one, else given the file meta it lacks (its transfer syntax as read, its SOP Class and
    Instance). Only a file that parses whole and names a valid SOP Class and Instance UID is one;
    anything else (text, an ICC profile, a gzip, JSON: each reads as one garbage element) is not DICOM."""
    refused = NotDicom("not a DICOM file (no DICM preamble, and not a DICOM data set without one)")
    with open(path, "rb") as handle:
        if handle.read(2) not in FIRST_GROUPS:
            raise refused
    try:
        ds = pydicom.dcmread(path, force=True, stop_before_pixels=header_only)
        for _ in (*ds.file_meta.iterall(), *ds.iterall()):
            pass
        classes = (UID(str(ds.get("SOPClassUID", ""))), UID(str(ds.get("SOPInstanceUID", ""))))
    except Exception:
        raise refused from None
    if not all(uid and uid.is_valid for uid in classes):
        raise refused
    if "TransferSyntaxUID" not in ds.file_meta:
        syntax = ENCODINGS.get(getattr(ds, "original_encoding", None))
        if syntax is None or len(ds.file_meta):
            raise refused
        ds.file_meta = FileMetaDataset()
        ds.file_meta.TransferSyntaxUID = syntax
    for name, uid in zip(("MediaStorageSOPClassUID", "MediaStorageSOPInstanceUID"), classes):
        if name not in ds.file_meta:
            setattr(ds.file_meta, name, uid)
    return ds


def is_dicomdir(path: Path) -> bool:
    """DICOMDIR media directories are indexes, not images: they are skipped, not scrubbed."""
    if path.name.upper() == "DICOMDIR":
        return True
    with no_warnings():  # pydicom's warnings quote the values they complain about
        try:
            meta = pydicom.filereader.read_file_meta_info(path)
            return str(meta.get("MediaStorageSOPClassUID", "")) == DICOMDIR_CLASS
        except Exception:
            return False
