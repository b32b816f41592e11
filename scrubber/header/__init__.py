"""Header stage: clean the DICOM header after PS3.15 Annex E, with keyed, consistent pseudonyms."""
from scrubber.header.clean import HeaderReport, clean_header
from scrubber.header.pseudonym import digest, pseudonym, uid_for

__all__ = ["HeaderReport", "clean_header", "digest", "pseudonym", "uid_for"]
