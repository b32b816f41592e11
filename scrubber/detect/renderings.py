"""Which renderings of which frames the detector looks at.

One rendering misses text: faint grey labels, text outside the display window, dark text on
light, near-black text on black. "full" shows the whole stored range and runs on every frame
(text shown in a few frames only is found in those frames); "window", "enhanced" (local contrast,
for faint labels) and "dark" (near-black text) run on a few key frames spread over a clip, where
static overlays are the same as everywhere else. "neutral" (white text over colour flow) is for
closer looks at lines of strokes in colour. "ink" (dark type over bright tissue) runs on the key
frames and is looked at whole. "colour" (one plane per hue of the coloured pixels) is for closer
looks at lines of coloured type whose luminance is that of the tissue under it. "local" (each
pixel against its surroundings: low-contrast labels on grey banners) and "smooth" (speckle
smoothed away: large type over tissue) are for single images and a clip's static layer, which is
read as one image is (scrubber/detect/single.py, clip.py).
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np


@dataclass(frozen=True, slots=True)
class View:
    """One image the detector looks at: a rendering of one frame."""

    frame: int
    rendering: str
    image: np.ndarray


def enhance(image: np.ndarray) -> np.ndarray:
    """Local contrast (CLAHE on grey) so that faint labels stand out as much as bright ones."""
    grey = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
    clahe = cv2.createCLAHE(clipLimit=4.0, tileGridSize=(8, 8))
    return cv2.cvtColor(clahe.apply(grey), cv2.COLOR_GRAY2RGB)


LOCAL_WINDOW = 15  # "local": the background is the median over this many pixels (wider than a stroke)
LOCAL_GAIN = 8  # ... and a pixel's difference from it is stretched this much, around mid-grey


def localise(image: np.ndarray) -> np.ndarray:
    """Each pixel's difference from the median of its surroundings, stretched around mid-grey.

    DB sees text by its contrast: a label 25 grey levels off a grey banner gets no probability at
    all in "full", and CLAHE ("enhanced") lifts it little where its tile also holds black and
    bright text. Here every label has the contrast of its strokes against their own ground, times
    LOCAL_GAIN, light or dark, on any banner (8 grey levels become 64); large areas of one grey
    become plain mid-grey. Texture is stretched too, so what DB finds here is kept only where the
    original is faint on flat ground (``faint_in``)."""
    grey = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
    background = cv2.medianBlur(grey, LOCAL_WINDOW)
    local = grey.astype(np.int16) - background
    stretched = np.clip(local * LOCAL_GAIN + 128, 0, 255).astype(np.uint8)
    return cv2.cvtColor(stretched, cv2.COLOR_GRAY2RGB)


LOCAL_CONTRAST = 48  # grey levels: "local" boxes whose pixels stand out more in the original are dropped
LOCAL_GROUND = 6  # ... and those whose ground (half their pixels) is not this flat: texture, not a banner


def faint_in(original: np.ndarray, box: tuple[int, int, int, int]) -> bool:
    """In ``original`` (the "full" RGB rendering), the pixels inside ``box`` differ from the
    median of their surroundings by at most LOCAL_CONTRAST (90th percentile): what "local" adds
    is text too faint for "full"; what stands out more there was for "full" to judge. ("local"
    turns a filled disc or triangle into its outline, which DB reads as an "o" or a letter: window
    buttons on a screenshot, icons.) Half the pixels must also be within LOCAL_GROUND of that
    median: a label's ground is a banner or black, while dark speckle and JPEG noise in tissue,
    stretched, look like faint text too. The box's rim (a quarter of its height) is left out:
    there DB's box reaches the corners of a label's banner, which stand out from their
    surroundings."""
    around, left, top = _off_median(original, box, LOCAL_WINDOW // 2)
    x0, y0, x1, y1 = box
    rim = max(2, (y1 - y0) // 4)
    if y1 - y0 > 2 * rim and x1 - x0 > 2 * rim:
        x0, y0, x1, y1 = x0 + rim, y0 + rim, x1 - rim, y1 - rim
    differ = around[y0 - top:y1 - top, x0 - left:x1 - left]
    if differ.size == 0:
        return False
    ground, strokes = np.percentile(differ, (50, 90))
    return float(ground) <= LOCAL_GROUND and float(strokes) <= LOCAL_CONTRAST


GROUND_RING = 6  # pixels around a box whose grey tells its ground (``on_flat_ground``)


def on_flat_ground(original: np.ndarray, box: tuple[int, int, int, int]) -> bool:
    """The pixels in a ring of GROUND_RING around ``box`` in ``original`` (the "full" RGB
    rendering) differ from the median of their surroundings by at most LOCAL_GROUND (median):
    the box lies on paper, a banner or black, not on tissue, whose speckle differs by 7.5-13 around
    a label (paper: 0-4, benchmarks/recall_sweep.py). The ring, not the box: in a block of small
    print more than half the pixels are strokes or their edges."""
    around, left, top = _off_median(original, box, GROUND_RING + LOCAL_WINDOW // 2)
    x0, y0, x1, y1 = box
    ring = np.zeros(around.shape, bool)
    ring[max(0, y0 - GROUND_RING - top):y1 + GROUND_RING - top,
         max(0, x0 - GROUND_RING - left):x1 + GROUND_RING - left] = True
    ring[y0 - top:y1 - top, x0 - left:x1 - left] = False
    differ = around[ring]
    return differ.size > 0 and float(np.median(differ)) <= LOCAL_GROUND


GRAIN = 5  # grey levels: JPEG grain (quality 50) on blank paper stays this close to its local median (99th percentile)


def standing_out(original: np.ndarray, box: tuple[int, int, int, int]) -> tuple[int, int, int, int] | None:
    """``box`` cut to the rows from the first to the last in which pixels of ``original`` (the "full"
    RGB rendering) stand out (more than GRAIN off the median of their surroundings: at least two,
    and a fiftieth of the row), or None where a hundredth of its pixels do not: something is drawn
    there, if only a label 8 grey levels off its banner (99th percentile 5-13 through JPEG quality
    85, 8 without), while the grain of blank JPEG paper (quality 50) mostly is not (4-6; a few
    boxes reach 8 and stay), and reaches past GRAIN in a pixel of a row now and then, strokes in
    many. DB with its training normalisation marks such grain as text where a later page of a
    layout lacks the text its reference had there, and takes a label in together with the paper
    below it (boxes 24 px tall over 8 px print; benchmarks/recall_sweep.py, series pages)."""
    around, left, top = _off_median(original, box, LOCAL_WINDOW // 2)
    x0, y0, x1, y1 = box
    inside = around[y0 - top:y1 - top, x0 - left:x1 - left]
    if inside.size == 0 or float(np.percentile(inside, 99)) <= GRAIN:
        return None
    rows = np.flatnonzero((inside > GRAIN).sum(axis=1) >= max(2, inside.shape[1] // 50))
    if not rows.size:
        return None
    return x0, y0 + int(rows[0]), x1, y0 + int(rows[-1]) + 1


def _off_median(original: np.ndarray, box: tuple[int, int, int, int], reach: int) -> tuple[np.ndarray, int, int]:
    """How much each grey pixel of ``box`` grown by ``reach`` (within ``original``, RGB) differs from
    the median of its LOCAL_WINDOW surroundings, and where that crop's left and top lie."""
    x0, y0, x1, y1 = box
    left, top = max(0, x0 - reach), max(0, y0 - reach)
    crop = np.ascontiguousarray(original[top:y1 + reach, left:x1 + reach])
    if crop.size == 0:
        return np.zeros((0, 0), np.uint8), left, top
    grey = cv2.cvtColor(crop, cv2.COLOR_RGB2GRAY)
    return cv2.absdiff(grey, cv2.medianBlur(grey, LOCAL_WINDOW)), left, top


COLOUR_CHROMA = 48  # a pixel is coloured when its channels differ by more than this ...
COLOUR_SHARE = 0.05  # ... and an image holds colour when this share of its pixels are


def _spread(image: np.ndarray) -> np.ndarray:
    """Each pixel's chroma: its largest channel less its smallest (0 for grey, black, white)."""
    red, green, blue = cv2.split(image)
    return cv2.subtract(cv2.max(cv2.max(red, green), blue), cv2.min(cv2.min(red, green), blue))


def coloured_pixels(image: np.ndarray) -> np.ndarray:
    """Where the channels of ``image`` (RGB) differ by more than COLOUR_CHROMA."""
    return _spread(image) > COLOUR_CHROMA


def coloured(image: np.ndarray) -> bool:
    """``image`` (RGB) holds colour: colour flow, a coloured overlay (an empty crop holds none)."""
    return image.size > 0 and float(np.mean(coloured_pixels(image))) > COLOUR_SHARE


def neutral(image: np.ndarray) -> np.ndarray:
    """The least of each pixel's channels: white and grey text keep their brightness while colour
    flow (red, orange, yellow: little blue) turns dark, so white text over colour Doppler, which
    luminance shows barely brighter than yellow, stands out."""
    return np.repeat(image.min(axis=2, keepdims=True), 3, axis=2)


NEAR_GAIN = 4  # "near": a pixel's brightness falls this many levels for each level it lies off the colour


def near_colour(image: np.ndarray, colour: tuple[int, int, int], gain: int = NEAR_GAIN) -> np.ndarray:
    """How near each pixel of ``image`` (RGB) lies to ``colour``, grey (uint8, one plane): 255 for
    that colour, ``gain`` levels less for each level off it in its furthest channel. Type of one
    colour over flow of its own hue stands alone here, light on dark (red over red-yellow
    Doppler, whose hue plane, ``colour_plane``, holds the flow too)."""
    return cv2.bitwise_not(cv2.multiply(off_colour(image, colour), np.full(image.shape[:2], gain, np.uint8)))


def off_colour(image: np.ndarray, colour: tuple[int, int, int]) -> np.ndarray:
    """How many levels each pixel of ``image`` (RGB) lies off ``colour`` in its furthest channel."""
    red, green, blue = cv2.split(cv2.absdiff(image, (*colour, 0)))  # (OpenCV takes the tuple as a scalar)
    return cv2.max(cv2.max(red, green), blue)


def near_rendering(image: np.ndarray, colour: tuple[int, int, int], gain: int = NEAR_GAIN) -> np.ndarray:
    """``near_colour`` as an RGB image, for the detector."""
    return cv2.cvtColor(near_colour(image, colour, gain), cv2.COLOR_GRAY2RGB)


LEVEL_GAIN = 64  # "level": a pixel's brightness falls this many levels for each level it lies off the grey,
# so that only the type's own grey (and the 1-3 levels that anti-aliasing leaves next to it) is light


def level_rendering(image: np.ndarray, level: int) -> np.ndarray:
    """How near each pixel of ``image`` (RGB) lies to the grey ``level``, steeply (LEVEL_GAIN): dark
    grey type over tissue stands alone here, white on black. Neither the full nor the inverted
    rendering shows it apart from the speckle's dark grains and the dark hollows of anatomy,
    which hold its grey too but never over a whole stroke (a 36 px "ID 4455" in grey 25 over
    US1: DB reads none of it there, and all of it here)."""
    return near_rendering(image, (level, level, level), LEVEL_GAIN)


HUE_SECTORS = 6  # colour planes: from red, yellow, green, cyan, blue and magenta each to the next
HUE_LEAD = 21  # a sector starts this many 1/(6 x 256) turns (5 degrees) before its colour


def hue_sectors(image: np.ndarray, where: np.ndarray | None = None) -> np.ndarray:
    """Each pixel's sixth of the hue circle (0 red, 1 yellow, 2 green, 3 cyan, 4 blue, 5 magenta:
    from 5 degrees before that colour to 5 degrees before the next, so a red-to-orange flow palette
    lies in one), or -1 where its channels differ by at most COLOUR_CHROMA (grey, black, white)
    or, when a ``where`` mask is given, outside it."""
    return _sectors(image, _spread(image), where)


def _sectors(image: np.ndarray, spread: np.ndarray, where: np.ndarray | None) -> np.ndarray:
    """``hue_sectors`` of ``image``, whose ``_spread`` the caller has already."""
    sectors = np.full(spread.shape, -1, np.int8)
    strong = spread > COLOUR_CHROMA
    if where is not None:
        strong &= where
    if strong.any():  # the hue of the coloured pixels only: in most images they are few
        hue = cv2.cvtColor(image[strong][None], cv2.COLOR_RGB2HSV_FULL)[0, :, 0].astype(np.int16)  # 0..255
        sectors[strong] = ((hue * HUE_SECTORS + HUE_LEAD) // 256) % HUE_SECTORS
    return sectors


HUE_CORE = 8  # 1/256 turns (11 degrees): the core of a colour's hue, either side of it (``hue_rendering``)
HUE_BLUR = 3  # ``hue_rendering`` judges hues over this many pixels (JPEG's chroma is shared by 2x2)


def hue_distances(image: np.ndarray, hues: tuple[int, ...], where: np.ndarray) -> list[np.ndarray]:
    """How far (1/256 turns, 0-128) the hue of each pixel of ``image`` (RGB) in ``where`` lies from
    each of ``hues`` (255 elsewhere), the pixels' hue found once."""
    out = [np.full(where.shape, 255, np.uint8) for _ in hues]
    if where.any():
        own = cv2.cvtColor(image[where][None], cv2.COLOR_RGB2HSV_FULL)[0, :, 0].astype(np.int16)
        for plane, hue in zip(out, hues):
            plane[where] = np.abs((own - hue + 128) % 256 - 128)
    return out


def hue_rendering(image: np.ndarray, hue: int) -> np.ndarray:
    """Each pixel's brightest channel times how near its hue lies to ``hue`` (falling to 0 at
    HUE_CORE off it; the hue of the image blurred over HUE_BLUR pixels, coloured pixels only);
    light on black. Red type through JPEG over red-to-yellow Doppler shares its hue sector with
    the flow and has no exact colour left (4:2:0 chroma smears it over the ground between the
    strokes), but its hue is red's while the flow beside it is mostly orange and yellow: here it
    stands out, the flow fades. The blur steadies the hue of dark strokes, which JPEG leaves
    noisy; the brightness keeps the strokes' shape, which lives in the luminance."""
    blurred = cv2.blur(image, (HUE_BLUR, HUE_BLUR))
    distance = hue_distances(blurred, (hue,), coloured_pixels(blurred))[0].astype(np.float32)
    near = np.clip(1 - distance / HUE_CORE, 0, 1) * image.max(axis=2)
    return cv2.cvtColor(near.astype(np.uint8), cv2.COLOR_GRAY2RGB)


def colour_plane(image: np.ndarray, sector: int) -> np.ndarray:
    """The chroma (spread of the channels) of the pixels of one hue sector (``hue_sectors``),
    others black: type of one colour over flow of others (blue over red and yellow Doppler)
    stands alone in its plane, light on black."""
    spread = _spread(image)
    spread[_sectors(image, spread, None) != sector] = 0
    return cv2.cvtColor(spread, cv2.COLOR_GRAY2RGB)


PANEL_SPREAD = (1, 99)  # percentiles of a panel's grey that a panel alone is stretched between
PANEL_MIN_RANGE = 4  # ... when they lie at least this many grey levels apart (else nothing is drawn there)


def panel_alone(crop: np.ndarray, inner: tuple[int, int, int, int]) -> np.ndarray:
    """The flat panel ``inner`` (a box of ``crop``) stretched over the whole range between its own
    PANEL_SPREAD percentiles, its surroundings black: an 8 px label 8 grey levels off a banner amid
    a clip's moving sector, through JPEG, is plain there, while any crop that also holds the
    tissue around the banner (full, CLAHE of the image or of the crop alone, "local") gives DB
    nothing to read (sweep, "static")."""
    x0, y0, x1, y1 = inner
    grey = cv2.cvtColor(crop, cv2.COLOR_RGB2GRAY)
    panel = grey[y0:y1, x0:x1].astype(np.float32)
    out = np.zeros(grey.shape, np.uint8)
    low, high = np.percentile(panel, PANEL_SPREAD) if panel.size else (0.0, 0.0)
    if high - low >= PANEL_MIN_RANGE:
        out[y0:y1, x0:x1] = np.clip((panel - low) * (255.0 / (high - low)), 0, 255).astype(np.uint8)
    return cv2.cvtColor(out, cv2.COLOR_GRAY2RGB)


DARK_GAIN = 8  # "dark" stretches the darkest eighth of the range over all of it


def darken(image: np.ndarray) -> np.ndarray:
    """The darkest eighth of the range stretched to the whole: text a few grey levels above black
    stands out as much as bright text. Looked at where the image has a display window (a wide
    stored range, such as 12 or 16 bits: text below the window is near-black in "full"); in an
    8-bit colour image it would mostly turn dark speckle into texture."""
    return cv2.multiply(image, np.full(image.shape, DARK_GAIN, np.uint8))  # saturates at 255


INK_GAIN = 4  # "ink" stretches the darkest quarter of the range over all of it, inverted


def ink(image: np.ndarray) -> np.ndarray:
    """The darkest quarter of the grey range stretched over the whole, inverted: dark type becomes
    light strokes on black, and bright tissue, speckle and colour (all above the quarter) become
    plain black. DB finds no line in dark type over bright speckle in "full" (a legible 18 px
    "ST ELSEWHERE" got no box; the speckle's strokes drown the type's, and a crop of it reads as
    texture), nor inverted; here it reads nearly all (benchmarks/recall_sweep.py, "bright")."""
    grey = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
    stretched = cv2.multiply(grey, np.full(grey.shape, INK_GAIN, np.uint8))  # saturates at 255
    return cv2.cvtColor(cv2.bitwise_not(stretched), cv2.COLOR_GRAY2RGB)


SMOOTH_WINDOW = 5  # "smooth": the median over this many pixels (wider than a speckle grain, narrower than
# the strokes of large type)


def smooth(image: np.ndarray) -> np.ndarray:
    """The least of each pixel's channels ("neutral": colour flow turns dark; in luminance, smoothed,
    DB marks blobs of flow as lines of text) with speckle smoothed away by a SMOOTH_WINDOW px
    median: large type over tissue keeps its strokes (3-4 px wide at a 36 px cap height) and
    stands on a calm ground.
    DB gives such type no probability at all in "full" (a plain 36 px grey "ID 4455" over US1's
    pane: its thin strokes among speckle grains of their own width read as texture, also in a
    crop); here it reads nearly all (benchmarks/recall_sweep.py, "large"). Small type loses its
    1-2 px strokes here, so this rendering only adds to "full"."""
    return cv2.cvtColor(cv2.medianBlur(least_channel(image), SMOOTH_WINDOW), cv2.COLOR_GRAY2RGB)


def least_channel(image: np.ndarray) -> np.ndarray:
    """The least of each pixel's channels of ``image`` (RGB), one plane: colour flow (red, orange,
    yellow: little blue) is dark there, grey and white stay as they are."""
    red, green, blue = cv2.split(image)
    return cv2.min(cv2.min(red, green), blue)


def key_frames(count: int, wanted: int) -> list[int]:
    """Up to ``wanted`` frame indices spread evenly from the first to the last frame."""
    if count <= wanted:
        return list(range(count))
    if wanted <= 1:
        return [0]
    return sorted({round(i * (count - 1) / (wanted - 1)) for i in range(wanted)})


def views(full: np.ndarray, window: np.ndarray | None, renderings: tuple[str, ...],
          extra_frames: int) -> list[View]:
    """Every (frame, rendering) image to detect on, as asked by the policy."""
    out: list[View] = []
    count = full.shape[0]
    if "full" in renderings:
        out.extend(View(i, "full", full[i]) for i in range(count))
    keys = key_frames(count, extra_frames) if "full" in renderings else list(range(count))
    if "window" in renderings and window is not None:
        out.extend(View(i, "window", window[i]) for i in keys)
    if "enhanced" in renderings:
        out.extend(View(i, "enhanced", enhance(full[i])) for i in keys)
    if "local" in renderings:
        out.extend(View(i, "local", localise(full[i])) for i in keys)
    if "dark" in renderings and window is not None:
        out.extend(View(i, "dark", darken(full[i])) for i in keys)
    if "ink" in renderings:
        out.extend(View(i, "ink", ink(full[i])) for i in keys)
    if "smooth" in renderings:
        out.extend(View(i, "smooth", smooth(full[i])) for i in keys)
    return out
