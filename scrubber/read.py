"""Read a DICOM file without trusting it: truncation and garbage are errors, not warnings."""
from __future__ import annotations

import warnings
from pathlib import Path

import pydicom
from pydicom.dataset import Dataset
from pydicom.errors import InvalidDicomError

from .errors import InconsistentImage, NotDicom
from .quiet import no_warnings

TRUNCATION_HINTS = ("end of file", "truncated", "unexpected end", "not enough data")
DICOMDIR_CLASS = "1.2.840.10008.1.3.10"


def read(path: Path) -> Dataset:
    """Read the whole file (pixel data included); raise NotDicom or InconsistentImage."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            ds = pydicom.dcmread(path)
        except InvalidDicomError:
            raise NotDicom("not a DICOM file (no DICM preamble)") from None
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
