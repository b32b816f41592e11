"""scrubber: remove burned-in text from DICOM images and clean their headers, fail-closed."""
from .api import Policy, ScrubResult, scrub_dataset, scrub_file, scrub_paths

__all__ = ["Policy", "ScrubResult", "scrub_dataset", "scrub_file", "scrub_paths"]
__version__ = "0.1.0"
