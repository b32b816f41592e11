"""Why a file could not be cleaned. Every reason is a stable code plus a message with no PHI."""
from __future__ import annotations


class ScrubError(Exception):
    """A file that must go to quarantine; ``code`` is stable, ``str(self)`` is safe to print."""

    code = "error"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class NotDicom(ScrubError):
    code = "not_dicom"


class NoPixelData(ScrubError):
    code = "no_pixel_data"


class UnsupportedSyntax(ScrubError):
    code = "unsupported_transfer_syntax"


class UnsupportedImage(ScrubError):
    code = "unsupported_image"


class InconsistentImage(ScrubError):
    code = "inconsistent_image"


class TooLarge(ScrubError):
    code = "too_large"


class DecodeFailed(ScrubError):
    code = "decode_failed"


class DetectFailed(ScrubError):
    code = "detect_failed"


class EncodeFailed(ScrubError):
    code = "encode_failed"


class SyntaxNotKept(ScrubError):
    """Policy ``keep_syntax="strict"``: the output would be written in another transfer syntax."""

    code = "syntax_not_kept"


class HeaderFailed(ScrubError):
    code = "header_failed"


class WriteFailed(ScrubError):
    code = "write_failed"


class DuplicateOutput(ScrubError):
    """Two inputs of one run would be written to the same output path; the later one is kept out."""

    code = "duplicate_output"


def is_failure(exc: BaseException) -> bool:
    """An error of the work on one file: any Exception, and a Rust extension's panic (pyo3's
    PanicException, a BaseException), a codec bug that must refuse that file and not end the batch;
    not KeyboardInterrupt or SystemExit, with which the user stops the run."""
    return isinstance(exc, Exception) or type(exc).__name__ == "PanicException"
