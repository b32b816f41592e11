"""Regenerate the recall sweep's section of benchmarks/README.md from results/recall-sweep*.json.

    .venv/bin/python benchmarks/sweep_report.py [--results benchmarks/results] [--readme benchmarks/README.md]

Everything between ``<!-- sweep:begin -->`` and ``<!-- sweep:end -->`` is rewritten from the
files that benchmarks/recall_sweep.py wrote; nothing in the tables is typed by hand.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from recall_sweep import TABLES, table  # noqa: E402
from report import pct, rewrite_section_main  # noqa: E402

BEGIN, END = "<!-- sweep:begin -->", "<!-- sweep:end -->"
RUNS = (  # results file, what it measures
    ("recall-sweep-before.json",
     "without the local rendering (`--set renderings=\"('full','window','enhanced','dark')\"`)"),
    ("recall-sweep.json", "**default**, every image alone (layout reuse off)"),
    ("recall-sweep-series.json", "default, every image checked against the first (`--set reuse_layouts=True`)"),
    ("recall-sweep-craft.json", "CRAFT for everything, without the local rendering (`--set text_model=\"'craft'\" "
                                "--set renderings=...`)"),
)
DETAIL = ("banner: |delta| by ground", "banner: delta by height", "banner: font by height", "tissue: style by height",
          "large: style by height", "vertical: turn by height", "vertical: style by height",
          "small: ground or style by height", "small: font by JPEG",
          "bright: style by height", "colour: colour by image", "colour: colour by height", "moving: style by height",
          "clip: style by height", "clip: frames shown by height", "static: delta by height",
          "static: |delta| by ground", "colour-clip: colour by height", "colour-moment: colour by height",
          "colour-moment: frames shown by height", "faint-moment: delta by height", "faint-moment: ground by height",
          "burned: style by height", "page: size by ink", "page: skew by JPEG", "page: font by size")


def _share(part: dict) -> str:
    """Labels removed out of labels, with the share (to 0.1 % near the whole: 593 of 594 is not 100 %)."""
    share = part["removed"] / max(1, part["labels"])
    return f"{part['removed']}/{part['labels']} ({pct(share, 1 if 0.99 <= share < 1 else 0)})"


def _apart(part: dict) -> str:
    """Labels removed in a group whose over-redaction is counted on its own (color3d's sector,
    the bright frame), with that over-redaction."""
    if not part.get("labels"):
        return "not measured"
    return f"{_share(part)}; over-redaction {100 * part['over_redaction_mean']:.2f} %"


def section(results: Path) -> list[str]:
    runs = [(json.loads((results / name).read_text()), name, what) for name, what in RUNS if (results / name).is_file()]
    if not runs:
        return [BEGIN, END]
    lines = [BEGIN, "## Recall on labels of our own — `results/recall-sweep*.json`", "",
             "Command: `.venv/bin/python benchmarks/recall_sweep.py --json benchmarks/results/recall-sweep.json` "
             "(and the `--set` variants below; then `benchmarks/sweep_report.py` rewrites this section); each "
             "run's date and machine are in its row.", "",
             "Fake-PHI labels of about 8, 12 and 18 px cap height, in three fonts, drawn anti-aliased on the "
             "real US1 frame: on grey banners (ground 0-235, ink 8-60 grey levels lighter or darker) and over "
             "tissue and colour Doppler (white, white with a black rim, yellow, mid grey, dark; and so in large "
             "type, \"large\": two short labels of 24 and 36 px cap height; and running up or down the "
             "image, \"vertical\": turned a quarter either way, white on a black banner or white or mid grey "
             "over tissue; and in small type, \"small\": 5, 6 and 7 px capitals on the banners, in ink 25 or 60 "
             "grey levels off them, and over tissue in white, white with a black rim, yellow or mid grey), each as "
             "drawn "
             "and through JPEG q85; over the same frame with its gain turned up (\"bright\": grey x 3 + 40, "
             "bright speckle) in dark grey (25) or black; in pure colours (blue, red, green, magenta, dark blue, "
             "dark red) over tissue and colour Doppler, and over color3d's sector (\"colour\"; and burned into "
             "12-frame stretches of that clip, \"colour-clip\", or shown in 1 or 5 of its frames as the \"clip\" "
             "labels are, \"colour-moment\"); and the same "
             "tissue labels over the sector of "
             "pydicom-data's cardiac clip color3d (\"moving\"), each image on another of its frames, as "
             "single-frame files of one layout "
             "with the clip's ultrasound region (in a series, such files differ from the first all over the "
             "region); and over that sector within the clip itself (\"clip\": 120-frame RGB clips, each "
             "label set shown in 1 or 5 consecutive frames, removed only when removed in each of them); "
             "and faint banner labels (8, 12 or 25 grey levels above black or above a banner of 40) shown "
             "so, in the black corner of the clip's calibrated region left of its sector (\"faint-moment\"); "
             "the tissue labels drawn in every frame of 12-frame stretches of that clip, over its sector "
             "(\"burned\": annotations drawn on a clip's image for its whole length); "
             "and the banner labels burned into every frame of 12-frame stretches of that clip, over its "
             "sector (\"static\": a clip's burned-in text, which its static layer shows; removed only when "
             "removed in all 12 frames); "
             "and on scanned forms (\"page\": 600x800, grainy paper, six labels in the cells of a ruled table "
             "and four lines of a report's running text below it (mixed case, wrapped to 520 px, each line one "
             "label), of 5, 7 or 10 px cap height in black or faded grey ink, and a "
             "signature in script twice their height in blue-black pen; the page turned 0, 1.5 or 4 degrees, "
             "through JPEG q50 or not). "
             "A label counts as removed when the redaction covers 98 % of its glyph "
             "pixels; over-redaction is the share of pixels changed outside the labels and the frame's own "
             "annotated text, both grown by 8 px (on the US1 images; on the color3d ones in their columns, "
             "where color3d's icons, which are not annotated as text, weigh about 2 %).", "",
             "| run | banner labels removed | over tissue | dark over bright tissue | coloured type "
             "| over a moving sector | in a clip, shown 1 or 5 frames | on banners, static in a clip "
             "| on a scanned page | over-redaction mean / max "
             "| s (date, CPU, cores) |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for result, name, what in runs:
        totals = result["totals"]
        bright, colour, moving, clip, static, page = (_apart(totals.get(group, {})) for group in
                                                      ("bright", "colour", "moving", "clip", "static", "page"))
        tissue = _share(totals["tissue"])
        if totals.get("large", {}).get("labels"):
            tissue += f"; in large type: {_apart(totals['large'])}"
        if totals.get("vertical", {}).get("labels"):
            tissue += f"; running up or down the image: {_apart(totals['vertical'])}"
        if totals.get("small", {}).get("labels"):
            tissue += f"; in small type (5-7 px, on banners and over tissue): {_apart(totals['small'])}"
        if totals.get("colour-clip", {}).get("labels"):
            colour += f"; burned into a clip: {_apart(totals['colour-clip'])}"
        if totals.get("burned", {}).get("labels"):
            moving += f"; drawn on every frame of a clip: {_apart(totals['burned'])}"
        if totals.get("faint-moment", {}).get("labels"):
            clip += f"; faint, in a black corner: {_apart(totals['faint-moment'])}"
        if totals.get("colour-moment", {}).get("labels"):
            colour += f"; shown for a moment in a clip: {_apart(totals['colour-moment'])}"
        lines.append(f"| {what} (`{name}`) | {_share(totals['banner'])} | {tissue} | {bright} | "
                     f"{colour} | {moving} | {clip} | {static} | {page} | "
                     f"{100 * totals['over_redaction_mean']:.2f} % / {100 * totals['over_redaction_max']:.2f} % | "
                     f"{totals['seconds']:.0f} ({result['date']}, {result['machine']['cpu']}, "
                     f"{result['machine']['cores']}) |")
    default = next((r for r, name, _ in runs if name == "recall-sweep.json"), None)
    craft = next((r for r, name, _ in runs if name == "recall-sweep-craft.json"), None)
    for title in DETAIL:
        for label, result in (("default", default), ("CRAFT for everything", craft)):
            group = TABLES[title][2]
            if result and any(row["group"] == group for row in result["images"]):
                lines += ["", f"{title} ({label}), labels removed:", "", *table(result["images"], *TABLES[title])]
    return lines + [END]


if __name__ == "__main__":
    raise SystemExit(rewrite_section_main(__doc__, section, BEGIN, END))
