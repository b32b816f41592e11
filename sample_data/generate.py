#!/usr/bin/env python
"""Deterministic generator of synthetic DICOM test files with burned-in fake PHI.

Usage::

    python sample_data/generate.py [OUTDIR]

OUTDIR defaults to the folder holding this script; the DICOM files go to
OUTDIR/dicom/ (the folder `scrubber run` is pointed at) and truth.json to OUTDIR.  Every run writes
byte-identical files: random numbers come from fixed seeds, UIDs are derived
from the file names, and no dates/times of the run are used anywhere.

Written files (see README.md):

* us_single.dcm     ultrasound, RGB 640x480, RLE Lossless
* us_cine.dcm       ultrasound multi-frame, 16 x 320x240 MONOCHROME2, JPEG-LS Lossless
* sc_screenshot.dcm secondary capture, RGB 800x600 "report viewer", RLE Lossless
* sc_form.dcm       secondary capture, MONOCHROME2 600x800 scanned form, JPEG-LS Lossless
* sc_16bit.dcm      secondary capture, MONOCHROME2 16-bit (12 stored) 512x512, JPEG 2000 Lossless
* us_textfree.dcm   ultrasound RGB 640x480 without any text, Explicit VR Little Endian
* truth.json        ground-truth text boxes for all of the above

All patient data is fictitious.
"""

from __future__ import annotations

import json
import sys
import uuid
from pathlib import Path

import cv2
import numpy as np
import pydicom
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import (
    UID,
    ExplicitVRLittleEndian,
    JPEG2000Lossless,
    JPEGLSLossless,
    RLELossless,
)

# ---------------------------------------------------------------------------
# fake identity (matches header and burned-in text)
# ---------------------------------------------------------------------------
PATIENT_NAME = "DOE^JANE"
PATIENT_ID = "0012345678"
BIRTH_DATE = "19710314"
SEX = "F"
STUDY_DATE = "20240314"
STUDY_TIME = "102231"
ACCESSION = "99887766"
INSTITUTION = "ST. ELSEWHERE GENERAL HOSPITAL"
REFERRING = "ROE^ROBERT"
OPERATOR = "MAJOR^MARY"

# fixed namespace for the name-based (version 5) UUIDs -> 2.25.<int> UIDs
UID_NAMESPACE = uuid.UUID("6f0e2a5c-3b1d-5e8f-9a47-2c1d0b9e8f31")
IMPL_CLASS_UID = "2.25." + str(uuid.uuid5(UID_NAMESPACE, "scrubber-synth-implementation").int)

US_IMAGE = "1.2.840.10008.5.1.4.1.1.6.1"
US_MULTIFRAME = "1.2.840.10008.5.1.4.1.1.3.1"
SECONDARY_CAPTURE = "1.2.840.10008.5.1.4.1.1.7"

SIMPLEX = cv2.FONT_HERSHEY_SIMPLEX
PLAIN = cv2.FONT_HERSHEY_PLAIN
DUPLEX = cv2.FONT_HERSHEY_DUPLEX
COMPLEX = cv2.FONT_HERSHEY_COMPLEX
TRIPLEX = cv2.FONT_HERSHEY_TRIPLEX
COMPLEX_SMALL = cv2.FONT_HERSHEY_COMPLEX_SMALL
SCRIPT = cv2.FONT_HERSHEY_SCRIPT_SIMPLEX


def make_uid(fname: str, what: str) -> str:
    """Deterministic 2.25.<uuid-int> UID derived from the file name."""
    return "2.25." + str(uuid.uuid5(UID_NAMESPACE, f"{fname}/{what}").int)


# ---------------------------------------------------------------------------
# text rendering helpers
# ---------------------------------------------------------------------------
def text_alpha(shape, text, org, font, scale, thickness):
    """Anti-aliased coverage mask (float 0..1) of `text` drawn at `org`."""
    m = np.zeros(shape[:2], np.uint8)
    cv2.putText(m, text, org, font, scale, 255, thickness, cv2.LINE_AA)
    return m.astype(np.float64) / 255.0


def bbox(alpha) -> list[int]:
    """Half-open [x0, y0, x1, y1] of the non-zero pixels of `alpha`."""
    ys, xs = np.nonzero(alpha > 0)
    if len(xs) == 0:
        raise ValueError("text was drawn outside the image")
    return [int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1]


def composite(img, alpha, value):
    """Blend constant `value` (scalar or RGB tuple) into float image `img`."""
    a = alpha[..., None] if img.ndim == 3 else alpha
    v = np.asarray(value, dtype=np.float64)
    img *= 1.0 - a
    img += a * v
    return img


def text_width(text, font, scale, thickness):
    (w, _), _ = cv2.getTextSize(text, font, scale, thickness)
    return w


class Canvas:
    """Float image plus the list of ground-truth boxes drawn into it."""

    def __init__(self, img: np.ndarray):
        self.img = img.astype(np.float64)
        self.boxes: list[dict] = []

    def text(self, text, org, font, scale, value, thickness=1, *, phi, style,
             frame=None, outline=None, outline_extra=2):
        """Draw text; `outline` (a colour) first draws the glyphs dilated by
        `outline_extra` px in that colour (a dark rim around the text)."""
        fill = text_alpha(self.img.shape, text, org, font, scale, thickness)
        cover = fill
        if outline is not None:
            # dilate the glyph coverage (putText's thickness does not grow the
            # glyphs of the TrueType-backed renderer in OpenCV 5)
            k = cv2.getStructuringElement(
                cv2.MORPH_ELLIPSE, (2 * outline_extra + 1, 2 * outline_extra + 1))
            ol = cv2.dilate(fill, k)
            composite(self.img, ol, outline)
            cover = np.maximum(ol, fill)
        composite(self.img, fill, value)
        box = {"frame": frame, "box": bbox(cover), "phi": phi, "style": style}
        self.boxes.append(box)
        return box


# ---------------------------------------------------------------------------
# synthetic image content
# ---------------------------------------------------------------------------
def smooth_noise(rng, shape, sigma):
    n = rng.standard_normal(shape)
    n = cv2.GaussianBlur(n, (0, 0), sigma)
    return n / (n.std() + 1e-12)


def fan_mask(h, w, apex, r0, r1, half_angle_deg):
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    dx = xx - apex[0]
    dy = yy - apex[1]
    r = np.hypot(dx, dy)
    ang = np.degrees(np.arctan2(dx, dy))  # 0 = straight down
    m = (r >= r0) & (r <= r1) & (np.abs(ang) <= half_angle_deg)
    # slightly soft edge
    m = cv2.GaussianBlur(m.astype(np.float64), (0, 0), 0.8)
    return m, r


def tissue(rng, h, w, blobs, scale=1.0):
    """Speckled ultrasound-like tissue in 0..255 (float), `blobs` brighten areas.

    blobs: list of (cx, cy, ax, ay, angle_deg, gain)
    """
    base = 0.55 + 0.18 * smooth_noise(rng, (h, w), 22 * scale)
    for cx, cy, ax, ay, ang, gain in blobs:
        e = np.zeros((h, w), np.float64)
        cv2.ellipse(e, (int(cx), int(cy)), (int(ax), int(ay)), ang, 0, 360, 1.0, -1)
        e = cv2.GaussianBlur(e, (0, 0), 6 * scale)
        base += gain * e
    # a few bright specular streaks
    for _ in range(5):
        x0 = int(rng.integers(0, w))
        y0 = int(rng.integers(0, h))
        ln = np.zeros((h, w), np.float64)
        cv2.line(ln, (x0, y0), (x0 + int(rng.integers(-40, 40) * scale),
                                y0 + int(rng.integers(-8, 8) * scale)), 1.0,
                 max(1, int(2 * scale)))
        base += 0.5 * cv2.GaussianBlur(ln, (0, 0), 2 * scale)
    speckle = rng.rayleigh(1.0, (h, w))
    speckle = cv2.GaussianBlur(speckle, (0, 0), 1.1 * scale)
    t = base * speckle * 120.0
    return np.clip(t, 0, 255)


def to_u8(img):
    return np.clip(np.rint(img), 0, 255).astype(np.uint8)


def us_single_base():
    """Text-free ultrasound frame (640x480 RGB) shared by us_single/us_textfree."""
    h, w = 480, 640
    rng = np.random.default_rng(1001)
    bg = 35.0
    apex = (320, 48)
    mask, r = fan_mask(h, w, apex, 18, 380, 36)
    t = tissue(rng, h, w, blobs=[
        (330, 250, 95, 48, -8, 0.9),   # bright "kidney" region (under LT KIDNEY)
        (250, 150, 40, 20, 20, 0.35),
        (420, 330, 60, 25, 0, -0.3),   # darker cyst-like region
    ])
    # depth attenuation
    t *= np.clip(1.15 - (r - 18) / 380 * 0.55, 0.3, 1.2)
    g = bg * (1 - mask) + t * mask
    img = np.repeat(g[..., None], 3, axis=2)
    # non-text graphics: depth ruler ticks (white) and a green TGC curve
    for k in range(0, 9):
        y = apex[1] + 18 + k * 45
        cv2.line(img, (600, y), (610 if k % 2 == 0 else 606, y), (200, 200, 200), 1,
                 cv2.LINE_AA)
    pts = np.array([[628 - int(10 * np.sin(i / 3.0)), apex[1] + 20 + i * 18]
                    for i in range(20)], np.int32)
    cv2.polylines(img, [pts], False, (60, 200, 60), 1, cv2.LINE_AA)
    # focus marker (triangle)
    tri = np.array([[592, 236], [586, 231], [586, 241]], np.int32)
    cv2.fillPoly(img, [tri], (230, 230, 120), cv2.LINE_AA)
    return img  # float RGB


def make_us_single():
    c = Canvas(us_single_base())
    w = c.img.shape[1]
    white = (245, 245, 245)
    c.text("DOE^JANE  ID " + PATIENT_ID, (8, 20), SIMPLEX, 0.55, white, 1,
           phi=True, style="white")
    dt = "2024-03-14 10:22:31"
    tw = text_width(dt, SIMPLEX, 0.55, 1)
    c.text(dt, (w - 8 - tw, 20), SIMPLEX, 0.55, white, 1, phi=True, style="white")
    c.text("DOB 1971-03-14", (8, 40), PLAIN, 0.65, (220, 220, 220), 1,
           phi=True, style="small")
    c.text(INSTITUTION, (8, 468), SIMPLEX, 0.5, (70, 70, 70), 1,
           phi=True, style="faint")
    c.text("LT KIDNEY", (262, 262), DUPLEX, 0.8, (255, 255, 255), 2,
           outline=(0, 0, 0), outline_extra=2, phi=False,  # anatomy label
           style="outlined")
    c.text("5.0 MHz", (w - 8 - text_width("5.0 MHz", SIMPLEX, 0.45, 1), 44), SIMPLEX,
           0.45, (200, 200, 200), 1, phi=False, style="white")
    c.text("DEPTH 16cm", (w - 8 - text_width("DEPTH 16cm", SIMPLEX, 0.45, 1), 464),
           SIMPLEX, 0.45, (200, 200, 200), 1, phi=False, style="white")
    c.text("GAIN 52", (8, 120), COMPLEX_SMALL, 0.6, (180, 180, 180), 1,
           phi=False, style="small")
    return to_u8(c.img), c.boxes


def make_us_textfree():
    return to_u8(us_single_base()), []


def make_us_cine():
    n, h, w = 16, 240, 320
    rng = np.random.default_rng(2002)
    big = tissue(rng, h + 80, w + 80, blobs=[
        (200, 160, 50, 24, 10, 0.8),
        (140, 90, 22, 12, -15, 0.3),
        (260, 230, 35, 14, 0, -0.3),
    ], scale=0.6)
    apex = (160, 22)
    mask, r = fan_mask(h, w, apex, 10, 205, 35)
    atten = np.clip(1.15 - (r - 10) / 205 * 0.55, 0.3, 1.2)
    bg = 20.0
    frames = []
    boxes = []
    static_boxes = None
    for i in range(n):
        dy = int(round(40 - 30 * np.sin(2 * np.pi * i / n)))   # breathing motion
        dx = int(round(40 + 6 * np.sin(2 * np.pi * i / n * 2)))
        t = big[dy:dy + h, dx:dx + w] * atten
        g = bg * (1 - mask) + t * mask
        # depth ticks (non-text)
        for k in range(6):
            y = apex[1] + 10 + k * 38
            cv2.line(g, (300, y), (306, y), 190, 1, cv2.LINE_AA)
        c = Canvas(g)
        # static banner + technical labels: same box every frame -> frame null
        c.text(PATIENT_NAME + " " + PATIENT_ID, (4, 13), SIMPLEX, 0.4, 240, 1,
               phi=True, style="white")
        c.text("3.5MHz", (4, 232), PLAIN, 0.8, 200, 1, phi=False, style="white")
        c.text("FR 16Hz", (260, 232), PLAIN, 0.8, 200, 1, phi=False, style="white")
        sec = 31 + i
        clock = f"10:{22 + sec // 60:02d}:{sec % 60:02d}"
        cw = text_width(clock, SIMPLEX, 0.4, 1)
        c.text(clock, (w - 4 - cw, 13), SIMPLEX, 0.4, 240, 1, phi=True,
               style="clock", frame=i)
        if 5 <= i <= 7:
            c.text("ACC " + ACCESSION, (4, 214), SIMPLEX, 0.4, 230, 1, phi=True,
                   style="transient", frame=i)
        if static_boxes is None:
            static_boxes = [b for b in c.boxes if b["frame"] is None]
            boxes.extend(static_boxes)
        else:
            assert [b for b in c.boxes if b["frame"] is None] == static_boxes
        boxes.extend(b for b in c.boxes if b["frame"] is not None)
        frames.append(to_u8(c.img))
    return np.stack(frames), boxes


def make_sc_screenshot():
    h, w = 600, 800
    rng = np.random.default_rng(3003)
    img = np.full((h, w, 3), 245.0)
    c = Canvas(img)
    I = c.img
    # title bar
    I[0:30] = (40, 70, 140)
    c.text(f"Report Viewer - DOE^JANE ({PATIENT_ID})", (10, 21), SIMPLEX, 0.6,
           (255, 255, 255), 1, phi=True, style="white")
    for k, col in enumerate([(230, 80, 70), (240, 190, 60), (90, 190, 90)]):
        cv2.circle(I, (w - 20 - 22 * k, 15), 7, col, -1, cv2.LINE_AA)
    # menu bar
    I[30:54] = (225, 225, 225)
    x = 10
    for item in ("File", "Edit", "View", "Tools", "Help"):
        c.text(item, (x, 47), SIMPLEX, 0.45, (30, 30, 30), 1, phi=False,
               style="dark_on_light")
        x += text_width(item, SIMPLEX, 0.45, 1) + 22
    cv2.line(I, (0, 54), (w, 54), (170, 170, 170), 1)
    # left: embedded small ultrasound image with a tiny burned-in label
    th, tw_ = 180, 240
    t = tissue(rng, th, tw_, blobs=[(120, 100, 45, 22, 5, 0.8)], scale=0.5)
    fm, _ = fan_mask(th, tw_, (120, 6), 6, 170, 38)
    thumb = 15 * (1 - fm) + t * fm
    I[80:80 + th, 20:20 + tw_] = thumb[..., None]
    cv2.rectangle(I, (19, 79), (20 + tw_, 80 + th), (120, 120, 120), 1)
    c.text("DOE^JANE", (24, 92), PLAIN, 0.7, (255, 255, 255), 1, phi=True,
           style="small")
    c.text("Image 1 of 3", (20, 80 + th + 20), SIMPLEX, 0.45, (60, 60, 60), 1,
           phi=False, style="dark_on_light")
    # right: report panel
    I[70:540, 290:780] = (228, 228, 228)
    cv2.rectangle(I, (290, 70), (779, 539), (160, 160, 160), 1)
    lines = [
        ("Patient: DOE, JANE", True, DUPLEX, 0.55),
        (f"MRN: {PATIENT_ID}", True, DUPLEX, 0.55),
        ("DOB: 1971-03-14    Sex: F", True, DUPLEX, 0.55),
        (f"Accession: {ACCESSION}", True, DUPLEX, 0.55),
        ("Referring: DR. ROBERT ROE", True, DUPLEX, 0.55),
        ("Exam: US ABDOMEN COMPLETE", False, SIMPLEX, 0.5),
        ("Findings: Both kidneys are normal in size", False, SIMPLEX, 0.5),
        ("and echotexture. No hydronephrosis.", False, SIMPLEX, 0.5),
        ("Impression: Normal study.", False, SIMPLEX, 0.5),
        ("Signed: DR. MARY MAJOR  2024-03-14 11:05", True, COMPLEX, 0.5),
    ]
    y = 100
    for text, phi, font, sc in lines:
        c.text(text, (305, y), font, sc, (25, 25, 25), 1, phi=phi,
               style="dark_on_light")
        y += 38 if text.startswith("Referring") else 30
    # buttons
    for k, label in enumerate(("Print", "Close")):
        x0 = 560 + k * 110
        cv2.rectangle(I, (x0, 500), (x0 + 90, 528), (205, 205, 205), -1)
        cv2.rectangle(I, (x0, 500), (x0 + 90, 528), (120, 120, 120), 1)
        c.text(label, (x0 + 22, 520), SIMPLEX, 0.5, (20, 20, 20), 1, phi=False,
               style="dark_on_light")
    # status bar
    I[574:600] = (210, 215, 225)
    c.text("Ready", (8, 592), SIMPLEX, 0.45, (40, 40, 40), 1, phi=False,
           style="dark_on_light")
    sw = text_width(INSTITUTION, SIMPLEX, 0.45, 1)
    c.text(INSTITUTION, (w - 10 - sw, 592), SIMPLEX, 0.45, (40, 40, 40), 1,
           phi=True, style="dark_on_light")
    return to_u8(c.img), c.boxes


def make_sc_form():
    h, w = 800, 600
    rng = np.random.default_rng(4004)
    # ink layer drawn upright, then rotated by ~1 degree
    items = [
        (INSTITUTION, (60, 60), TRIPLEX, 0.75, 1, True),
        ("PATIENT REGISTRATION FORM", (120, 110), DUPLEX, 0.8, 2, False),
        ("Name: DOE, JANE", (60, 200), SIMPLEX, 0.7, 1, True),
        (f"Patient ID: {PATIENT_ID}", (60, 250), SIMPLEX, 0.7, 1, True),
        ("Address: 123 FAKE STREET", (60, 300), SIMPLEX, 0.7, 1, True),
        ("SPRINGFIELD, ZZ 00000", (170, 335), SIMPLEX, 0.7, 1, True),
        ("Date of Birth: 1971-03-14", (60, 385), SIMPLEX, 0.7, 1, True),
        ("Phone: 555-0100", (60, 435), SIMPLEX, 0.7, 1, True),
        ("Insurance: NONE", (60, 485), COMPLEX_SMALL, 0.9, 1, False),
        ("Signature:", (60, 600), SIMPLEX, 0.7, 1, False),
        ("Jane Doe", (220, 592), SCRIPT, 1.3, 2, True),
        ("Date: 2024-03-14", (60, 660), SIMPLEX, 0.7, 1, True),
        ("Form REG-01 rev 3", (420, 770), PLAIN, 0.9, 1, False),
    ]
    angle = 1.0
    M = cv2.getRotationMatrix2D((w / 2, h / 2), angle, 1.0)

    def rot(a):
        return cv2.warpAffine(a, M, (w, h), flags=cv2.INTER_LINEAR,
                              borderMode=cv2.BORDER_CONSTANT, borderValue=0)

    # lines/boxes (non-text)
    lines = np.zeros((h, w), np.uint8)
    cv2.line(lines, (200, 605), (540, 605), 255, 1, cv2.LINE_AA)
    cv2.rectangle(lines, (40, 160), (560, 510), 255, 1, cv2.LINE_AA)
    cv2.line(lines, (40, 130), (560, 130), 255, 2, cv2.LINE_AA)
    ink = rot(lines.astype(np.float64) / 255.0)
    boxes = []
    for text, org, font, sc, th, phi in items:
        a = rot(text_alpha((h, w), text, org, font, sc, th))
        boxes.append({"frame": None, "box": bbox(a), "phi": phi,
                      "style": "dark_on_light"})
        ink = np.maximum(ink, a)
    paper = 228.0 + 6.0 * smooth_noise(rng, (h, w), 40) + 2.0 * smooth_noise(rng, (h, w), 3)
    # sparse dust specks
    specks = rng.random((h, w)) < 0.0008
    paper[specks] -= 60
    img = paper * (1 - ink) + 30.0 * ink
    return to_u8(img), boxes


def make_sc_16bit():
    h, w = 512, 512
    rng = np.random.default_rng(5005)
    img = np.full((h, w), 24.0)
    yy, xx = np.mgrid[0:h, 0:w]
    body = ((xx - 256) / 200.0) ** 2 + ((yy - 270) / 165.0) ** 2 <= 1.0
    img[body] = 1200.0  # subcutaneous fat
    inner = ((xx - 256) / 185.0) ** 2 + ((yy - 270) / 150.0) ** 2 <= 1.0
    img[inner] = 1480.0  # soft tissue
    organs = [  # (cx, cy, ax, ay, angle, value)
        (190, 250, 70, 50, 20, 1560.0),   # liver
        (330, 240, 40, 30, -10, 1540.0),  # spleen/stomach
        (256, 330, 22, 22, 0, 2600.0),    # vertebra (bone)
        (200, 330, 25, 18, 0, 1600.0),    # kidney
        (312, 330, 25, 18, 0, 1600.0),    # kidney
        (256, 280, 14, 14, 0, 1750.0),    # aorta
    ]
    for cx, cy, ax, ay, ang, v in organs:
        m = np.zeros((h, w), np.uint8)
        cv2.ellipse(m, (cx, cy), (ax, ay), ang, 0, 360, 1, -1)
        img[m > 0] = v
    img = cv2.GaussianBlur(img, (0, 0), 2.0)
    img[body] += 12.0 * smooth_noise(rng, (h, w), 1.2)[body]
    img = np.clip(img, 0, 4095)
    c = Canvas(img)
    c.text(PATIENT_NAME, (10, 24), SIMPLEX, 0.6, 4095, 1, phi=True, style="white")
    c.text("ID " + PATIENT_ID, (10, 46), SIMPLEX, 0.6, 4095, 1, phi=True,
           style="white")
    d = "2024-03-14"
    c.text(d, (w - 10 - text_width(d, SIMPLEX, 0.6, 1), 24), SIMPLEX, 0.6, 4095, 1,
           phi=True, style="white")
    t = "WL 1500 WW 1000"
    c.text(t, (w - 10 - text_width(t, PLAIN, 1.0, 1), 500), PLAIN, 1.0, 4095, 1,
           phi=False, style="white")
    c.text("ACC " + ACCESSION, (10, 500), SIMPLEX, 0.6, 300, 1, phi=True,
           style="below_window")
    out = np.clip(np.rint(c.img), 0, 4095).astype(np.uint16)
    return out, c.boxes


# ---------------------------------------------------------------------------
# DICOM writing
# ---------------------------------------------------------------------------
def base_dataset(fname, sop_class, modality, *, series_number, description,
                 burned_in=True):
    ds = Dataset()
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = UID(sop_class)
    meta.MediaStorageSOPInstanceUID = UID(make_uid(fname, "sop"))
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    meta.ImplementationClassUID = UID(IMPL_CLASS_UID)
    meta.ImplementationVersionName = "SCRUBSYNTH_1"
    ds.file_meta = meta

    ds.SpecificCharacterSet = "ISO_IR 100"
    ds.ImageType = ["ORIGINAL", "PRIMARY"] if modality == "US" else ["DERIVED", "SECONDARY"]
    ds.SOPClassUID = meta.MediaStorageSOPClassUID
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.StudyDate = STUDY_DATE
    ds.SeriesDate = STUDY_DATE
    ds.ContentDate = STUDY_DATE
    ds.StudyTime = STUDY_TIME
    ds.SeriesTime = STUDY_TIME
    ds.ContentTime = STUDY_TIME
    ds.AccessionNumber = ACCESSION
    ds.Modality = modality
    ds.Manufacturer = "ScrubberSynth"
    ds.InstitutionName = INSTITUTION
    ds.InstitutionAddress = "123 FAKE STREET^^SPRINGFIELD^ZZ^00000"
    ds.ReferringPhysicianName = REFERRING
    ds.StationName = "SYNTH01"
    ds.StudyDescription = "US ABDOMEN COMPLETE"
    ds.SeriesDescription = description
    ds.OperatorsName = OPERATOR
    ds.ManufacturerModelName = "SynthGen 1"
    ds.PatientName = PATIENT_NAME
    ds.PatientID = PATIENT_ID
    ds.PatientBirthDate = BIRTH_DATE
    ds.PatientSex = SEX
    ds.PatientAge = "052Y"
    ds.DeviceSerialNumber = "SN-0001"
    ds.SoftwareVersions = "1.0"
    ds.StudyInstanceUID = make_uid(fname, "study")
    ds.SeriesInstanceUID = make_uid(fname, "series")
    ds.StudyID = "1"
    ds.SeriesNumber = series_number
    ds.InstanceNumber = 1
    ds.PatientOrientation = ""
    ds.BurnedInAnnotation = "YES" if burned_in else "NO"
    # private block holding PHI
    block = ds.private_block(0x0011, "SYNTH 1.0", create=True)
    block.add_new(0x01, "LO", PATIENT_NAME)
    block.add_new(0x02, "LO", PATIENT_ID)
    block.add_new(0x03, "DA", BIRTH_DATE)
    return ds


def write(ds, arr, path, photometric, bits_stored, syntax):
    ds.set_pixel_data(arr, photometric, bits_stored, generate_instance_uid=False)
    if syntax != ExplicitVRLittleEndian:
        ds.compress(syntax, arr, generate_instance_uid=False)
    ds.save_as(path, enforce_file_format=True)
    # verify: decodes back to exactly the generated array
    back = pydicom.dcmread(path)
    assert back.file_meta.TransferSyntaxUID == syntax, back.file_meta.TransferSyntaxUID
    got = back.pixel_array
    assert got.shape == arr.shape, (path, got.shape, arr.shape)
    assert got.dtype == arr.dtype, (path, got.dtype, arr.dtype)
    assert np.array_equal(got, arr), f"{path}: decoded pixels differ"


def main(root: Path):
    outdir = root / "dicom"
    outdir.mkdir(parents=True, exist_ok=True)
    truth: dict = {"files": {}}

    def record(fname, arr_frames, boxes, text_free=False):
        for b in boxes:
            x0, y0, x1, y1 = b["box"]
            assert 0 <= x0 < x1 and 0 <= y0 < y1
        truth["files"][fname] = {"text_free": text_free, "frames": arr_frames,
                                 "boxes": boxes}

    # 1. us_single.dcm
    fname = "us_single.dcm"
    arr, boxes = make_us_single()
    ds = base_dataset(fname, US_IMAGE, "US", series_number=1,
                      description="LT KIDNEY")
    ds.BodyPartExamined = "KIDNEY"
    write(ds, arr, outdir / fname, "RGB", 8, RLELossless)
    record(fname, 1, boxes)

    # 2. us_cine.dcm
    fname = "us_cine.dcm"
    arr, boxes = make_us_cine()
    ds = base_dataset(fname, US_MULTIFRAME, "US", series_number=2,
                      description="CINE LT KIDNEY")
    ds.FrameTime = "1000.0"   # clock advances 1 s per frame
    ds.CineRate = 1
    ds.RecommendedDisplayFrameRate = 1
    ds.FrameIncrementPointer = pydicom.tag.Tag(0x0018, 0x1063)
    write(ds, arr, outdir / fname, "MONOCHROME2", 8, JPEGLSLossless)
    assert ds.NumberOfFrames == arr.shape[0]
    record(fname, int(arr.shape[0]), boxes)

    # 3. sc_screenshot.dcm
    fname = "sc_screenshot.dcm"
    arr, boxes = make_sc_screenshot()
    ds = base_dataset(fname, SECONDARY_CAPTURE, "OT", series_number=3,
                      description="REPORT SCREENSHOT")
    ds.ConversionType = "WSD"
    write(ds, arr, outdir / fname, "RGB", 8, RLELossless)
    record(fname, 1, boxes)

    # 4. sc_form.dcm
    fname = "sc_form.dcm"
    arr, boxes = make_sc_form()
    ds = base_dataset(fname, SECONDARY_CAPTURE, "OT", series_number=4,
                      description="SCANNED REGISTRATION FORM")
    ds.ConversionType = "SD"
    write(ds, arr, outdir / fname, "MONOCHROME2", 8, JPEGLSLossless)
    record(fname, 1, boxes)

    # 5. sc_16bit.dcm
    fname = "sc_16bit.dcm"
    arr, boxes = make_sc_16bit()
    ds = base_dataset(fname, SECONDARY_CAPTURE, "OT", series_number=5,
                      description="CT-LIKE 16 BIT CAPTURE")
    ds.ConversionType = "WSD"
    ds.WindowCenter = 1500
    ds.WindowWidth = 1000
    write(ds, arr, outdir / fname, "MONOCHROME2", 12, JPEG2000Lossless)
    record(fname, 1, boxes)

    # 6. us_textfree.dcm
    fname = "us_textfree.dcm"
    arr, boxes = make_us_textfree()
    ds = base_dataset(fname, US_IMAGE, "US", series_number=6,
                      description="LT KIDNEY NO ANNOTATION", burned_in=False)
    write(ds, arr, outdir / fname, "RGB", 8, ExplicitVRLittleEndian)
    record(fname, 1, boxes, text_free=True)

    (root / "truth.json").write_text(json.dumps(truth, indent=1) + "\n")
    total = sum((outdir / f).stat().st_size for f in truth["files"])
    for f in truth["files"]:
        print(f"{f:20s} {(outdir / f).stat().st_size:9d} bytes  "
              f"{len(truth['files'][f]['boxes'])} boxes")
    print(f"total {total} bytes")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parent)
