"""One immutable Policy: what to remove, how, and with which key.

Every stage reads its settings from here, so a run is reproducible from its Policy alone and the
same object can be shipped to worker processes (it pickles).
"""
from __future__ import annotations

import dataclasses
import os
import secrets
from dataclasses import dataclass, field
from typing import Literal

Device = Literal["auto", "cpu", "cuda"]
Backend = Literal["auto", "torch", "onnx"]
BACKENDS = ("auto", "torch", "onnx")
TextModel = Literal["auto", "db", "craft"]
TEXT_MODELS = ("auto", "db", "craft")
KeepSyntax = Literal["auto", "strict"]
KEEP_SYNTAX = ("auto", "strict")

RUNTIME_ONLY = ("key", "device", "backend", "threads")  # fields that leave what is removed as it is

RENDERINGS = ("full", "window", "enhanced", "local", "dark", "ink", "colour", "level", "smooth", "turned")
MAX_SAMPLES = 1 << 30  # the default absurd-size guard: a 640x480 colour clip of 1165 frames


@dataclass(frozen=True, slots=True)
class Policy:
    """Settings of a scrub run; build one with keyword arguments, change one with ``replace``."""

    device: Device = "auto"
    # Text detector runtime: "onnx" (onnxruntime, CPU only, no torch needed at run time), "torch"
    # (easyocr's CRAFT and DB's graph in torch; CPU or CUDA, batched on CUDA), "auto": onnx when onnxruntime is installed
    # and the device is the CPU, else torch. Both give the same boxes.
    backend: Backend = "auto"
    # Network that finds words and lines: "db" (PP-OCRv4's small DB detector, about 15x cheaper
    # than CRAFT; CRAFT still gets the closer looks at lone characters; both on the backend and
    # device above), "craft" (CRAFT for everything), "auto": db wherever it can run (on a CUDA
    # device too: CRAFT for everything finds less), else craft.
    text_model: TextModel = "auto"
    # Renderings the detector looks at: "full" (stored range stretched to 8 bit), "window" (the
    # header's VOI window, when it has one), "enhanced" (local contrast, reveals faint labels),
    # "local" (each pixel against its surroundings: labels a few grey levels off a grey banner),
    # "dark" (the darkest eighth of the range stretched: near-black text on black, in images that
    # have a window), "ink" (the darkest quarter of the range stretched and inverted: dark type over
    # bright tissue, whose speckle it flattens), "colour" (one plane per hue of the coloured pixels:
    # blue or magenta type over grey tissue or red-yellow flow, whose luminance hides it), "level"
    # (how near each pixel lies to one exact grey: dark grey type over tissue, looked at where the
    # pixels of that grey form lines of strokes), "smooth" (speckle smoothed away, looked at half
    # size: large type over tissue), "turned" (the full rendering turned a quarter, for lines of
    # text that run up or down the image).
    renderings: tuple[str, ...] = ("full", "window", "enhanced", "local", "dark", "ink", "colour", "level",
                                   "smooth", "turned")
    # Clips: this many key frames get the extra renderings (spread over the clip). "full" is
    # looked at on the static layer (median of the frames) and, frame by frame, wherever a frame
    # shows something new (scrubber/detect/clip.py).
    extra_rendering_frames: int = 1
    # CRAFT thresholds, lower than easyocr's defaults (0.7 / 0.4 / 0.4): recall first.
    text_threshold: float = 0.5
    low_text: float = 0.3
    link_threshold: float = 0.3
    # Images whose long side is shorter are magnified up to it (at most 4x) before detection.
    min_long_side: int = 640
    # Box padding that covers anti-aliased edges and outlines: pad_px + pad_frac * box height.
    pad_px: int = 2
    pad_frac: float = 0.1
    # Clips: a box found in at least this share of the frames is a static overlay and is blanked
    # in every frame; rarer boxes are blanked where they were found (and in short gaps between).
    static_fraction: float = 0.5
    # Keep JPEG baseline/extended files in their syntax by blanking whole MCUs in the DCT domain
    # (8x8 to 16x16 pixel blocks; every other block keeps its coefficients, so no generation loss);
    # off: Explicit VR Little Endian with exact boxes (fewer pixels change, the file grows).
    jpeg_dct: bool = True
    # "auto": a redacted file is written in the syntax scrubber/pixels/syntaxes.toml says (which
    # may be another one, recorded in the audit); "strict": a file whose output syntax would differ
    # from its input's, Explicit VR Big Endian to Little Endian included, is quarantined
    # (syntax_not_kept). A file whose Pixel Data is left as it was keeps its syntax either way.
    keep_syntax: KeepSyntax = "auto"
    # Absurd-size guard: Rows x Columns x Frames x Samples per Pixel above this is refused.
    max_samples: int = MAX_SAMPLES
    # Detector threads per worker (torch or onnxruntime); 0 means the number of cores divided by
    # the worker count.
    threads: int = 0
    # Secret key for keyed pseudonyms (UIDs, IDs); never written anywhere.
    key: bytes = field(default_factory=lambda: secrets.token_bytes(32), repr=False)
    # PS3.15 Annex E options on top of the Basic Profile, by name (see `scrubber run --help`):
    # retain_safe_private, retain_uids, retain_device_identity, retain_institution_identity,
    # retain_patient_characteristics, retain_long_full_dates | retain_long_modified_dates,
    # clean_descriptors, clean_structured_content, clean_graphics.
    header_options: frozenset[str] = frozenset()
    # Known-location rules (scrubber/detect/rules.py): folders of user rule files (*.toml) read on
    # top of the built-in ones; known_locations off applies no rule at all. The folders are
    # checked when the rules are loaded (the CLI does it before a run starts).
    rules_dirs: tuple[str, ...] = ()
    known_locations: bool = True
    # Ultrasound region calibration: "ocr" looks for text everywhere (the regions tell a clip
    # where its moving image is); "blank" also blanks everything outside the image regions.
    outside_regions: Literal["ocr", "blank"] = "ocr"
    # Single images of a layout seen before in this process (same device, size, calibration) are
    # compared with the first one and looked at again only where they differ.
    reuse_layouts: bool = True

    def __post_init__(self) -> None:
        unknown = set(self.renderings) - set(RENDERINGS)
        if unknown or not self.renderings:
            raise ValueError(f"renderings must be a non-empty subset of {RENDERINGS}, got {self.renderings}")
        if self.outside_regions not in ("ocr", "blank"):
            raise ValueError(f"outside_regions must be ocr or blank, got {self.outside_regions!r}")
        if self.device not in ("auto", "cpu", "cuda"):
            raise ValueError(f"device must be auto, cpu or cuda, got {self.device!r}")
        if self.keep_syntax not in KEEP_SYNTAX:
            raise ValueError(f"keep_syntax must be auto or strict, got {self.keep_syntax!r}")
        if self.backend not in BACKENDS:
            raise ValueError(f"backend must be auto, torch or onnx, got {self.backend!r}")
        if self.text_model not in TEXT_MODELS:
            raise ValueError(f"text_model must be auto, db or craft, got {self.text_model!r}")
        if self.backend == "onnx" and self.device == "cuda":
            raise ValueError("backend onnx runs on the CPU; use backend torch (or auto) with device cuda")
        if len(self.key) < 16:
            raise ValueError("key must hold at least 16 bytes")
        if self.max_samples <= 0 or self.pad_px < 0 or self.pad_frac < 0:
            raise ValueError("max_samples must be positive and padding non-negative")
        if isinstance(self.rules_dirs, str | bytes | os.PathLike) or not all(
                isinstance(d, str | os.PathLike) for d in self.rules_dirs):
            raise ValueError(f"rules_dirs must be a tuple of folder paths, got {self.rules_dirs!r}")
        object.__setattr__(self, "rules_dirs", tuple(str(os.fspath(d)) for d in self.rules_dirs))
        from scrubber.header.table import load_table

        object.__setattr__(self, "header_options", load_table().check_options(self.header_options))

    def replace(self, **changes: object) -> "Policy":
        """Return a copy with some fields changed (the Policy itself never changes)."""
        return dataclasses.replace(self, **changes)

    def settings_digest(self) -> str:
        """A digest of what decides how a file comes out, the key left out (it has its own check:
        the audit's keyed digests), and so are where the networks run and on how many threads.
        The audit records it, and ``--resume`` skips only files delivered under the same one."""
        import hashlib

        from scrubber import __version__

        kept = {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name not in RUNTIME_ONLY}
        kept["header_options"] = sorted(kept["header_options"])
        kept["scrubber"] = __version__  # another version may find other text
        return hashlib.sha256(repr(sorted(kept.items())).encode()).hexdigest()[:16]
