"""Regenerate the suite's tables in benchmarks/README.md and its plots from results/suite-*.json.

    .venv/bin/python benchmarks/report.py [--results benchmarks/results] [--readme benchmarks/README.md]

Everything between the markers ``<!-- suite:begin -->`` and ``<!-- suite:end -->`` is rewritten;
nothing in the tables is typed by hand. Plots go to results/plots/*-DEVICE.png.
"""
from __future__ import annotations

import argparse
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
BEGIN, END = "<!-- suite:begin -->", "<!-- suite:end -->"
TOOLS = ("scrubber", "presidio-phi", "presidio-all-text")
STAGES = ("decode", "render", "detect", "redact", "encode", "graphics", "header", "write", "read+other")


def pct(value: float | None, digits: int = 1) -> str:
    return "–" if value is None else f"{100 * value:.{digits}f} %"


def num(value: Any, digits: int = 2) -> str:
    if value is None:
        return "–"
    return f"{value:.{digits}f}" if isinstance(value, float) else str(value)


def table(header: list[str], rows: list[list[str]]) -> list[str]:
    """A markdown table; a "|" inside a cell (an exception's text) is escaped."""
    def line(cells: list[str]) -> str:
        return "| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |"

    return [line(header), "|" + "---|" * len(header), *(line(r) for r in rows)]


def accuracy_lines(acc: dict[str, Any]) -> list[str]:
    rows = []
    for tool in TOOLS:
        if tool not in acc:
            continue
        t = acc[tool]["totals"]
        seconds = sum(r.get("seconds", 0.0) for r in acc[tool]["files"])
        rows.append([f"**{tool}**", f"{t['delivered']}/{t['files']}",
                     f"{t['phi_removed']}/{t['phi_boxes']} ({pct(t['phi_recall'])})",
                     f"{t['text_removed']}/{t['text_boxes']} ({pct(t['text_recall'])})",
                     f"{t['text_found']}/{t['text_boxes']}",
                     f"{pct(t['max_over_redaction'], 2)} / {pct(t['mean_over_redaction'], 2)}",
                     f"{t['text_free_changed']} of {t['text_free_delivered']} delivered ({t['text_free']})",
                     f"{t['syntax_kept']}/{t['delivered']}", f"{t['files_with_header_leaks']}/{t['delivered']}",
                     num(round(seconds, 1), 1)])
    lines = table(["tool", "files delivered", "PHI boxes removed", "all text boxes removed",
                   "text boxes found", "over-redaction max / mean", "text-free images changed",
                   "syntax kept", "files with header PHI left", "s"], rows)
    kinds = sorted({r["kind"] for r in acc["scrubber"]["files"] if not r["text_free"]})
    per_kind = []
    for kind in kinds:
        cells = [kind]
        for tool in TOOLS:
            if tool in acc:
                files = [r for r in acc[tool]["files"] if r["kind"] == kind and not r["text_free"]]
                removed, boxes = sum(r["removed"] for r in files), sum(r["boxes"] for r in files)
                phi, phi_boxes = sum(r["phi_removed"] for r in files), sum(r["phi_boxes"] for r in files)
                cells.append(f"{removed}/{boxes} text, {phi}/{phi_boxes} PHI, {sum(r['delivered'] for r in files)}"
                             f"/{len(files)} files")
        per_kind.append(cells)
    lines += ["", "Recall per kind of input (boxes removed / boxes; files delivered):", ""]
    lines += table(["kind", *[t for t in TOOLS if t in acc]], per_kind)
    refused = [(tool, r["file"], r["reason"]) for tool in TOOLS if tool in acc
               for r in acc[tool]["files"] if not r["delivered"]]
    if refused:
        lines += ["", "Not delivered:", ""]
        lines += [f"- {tool}: `{name}`: {reason}" for tool, name, reason in refused]
    return lines


def speed_lines(speed: dict[str, Any]) -> list[str]:
    rows, stage_rows = [], []
    for r in speed["rows"]:
        one, two, pres = r.get("workers_1", {}), r.get("workers_2", {}), r.get("presidio", {})
        presidio = (f"{num(pres.get('ms_per_frame'), 1)} ms, cold {num(pres.get('cold_first_file_s'), 1)} s"
                    if pres.get("frames_per_s") else ("fails: " + "; ".join(pres["failed"]) if pres.get("failed") else "–"))
        rows.append([f"{r['kind']}: {r['size']} x {r['frames_per_file']}", num(r.get("ms_per_frame"), 1),
                     num(one.get("frames_per_s"), 2), num(two.get("frames_per_s"), 2),
                     num(two.get("batch_frames_per_s"), 2), f"{num(r['cold']['wall_s'], 1)} s",
                     f"{num(one.get('peak_rss_mb'), 0)} / {num(two.get('peak_rss_mb'), 0)}",
                     num(r.get("floor_ms_per_frame"), 1), f"{num(r.get('ratio_to_floor'), 1)}x", presidio,
                     f"{num(r.get('ratio_to_presidio'), 2)}x" if r.get("ratio_to_presidio") else "–"])
        stages = one.get("stages_ms_per_frame", {})
        stage_rows.append([r["kind"], *[num(stages.get(s), 1) for s in STAGES]])
    lines = table(["input", "ms/frame warm (1 worker)", "frames/s 1 worker", "frames/s 2 workers (steady)",
                   "frames/s 2 workers (batch, incl. start)", "cold start (one file, fresh process)",
                   "peak RSS MB 1 / 2 workers", "floor ms/frame (decode+encode)", "vs floor",
                   "Presidio ms/frame (warm), cold", "frames/s vs Presidio"], rows)
    lines += ["", "Time per stage, ms per frame (1 worker, warm):", ""]
    lines += table(["input", *STAGES], stage_rows)
    return lines


def scaling_lines(scaling: dict[str, Any]) -> list[str]:
    fit = scaling["frames_fit"]
    lines = table(["frames (color3d, first N)", "s", "frames/s", "floor s (decode+encode)", "detect s"],
                  [[str(r["frames"]), num(r["seconds"], 2), num(r["frames_per_s"], 2), num(r["floor_s"], 3),
                    num(r["stages_s"].get("detect"), 2)] for r in scaling["frames"]])
    lines += ["", f"Fit: {fit['fixed_s']} s fixed per file + {fit['per_frame_ms']} ms per frame; the floor's marginal "
                  f"cost is {fit.get('floor_per_frame_ms', '–')} ms per frame, so a frame costs "
                  f"**{fit.get('marginal_ratio_to_floor', '–')}x** the floor (target of issue 5: at most 2x).", ""]
    lines += table(["size (US1_UNCR resized)", "s", "detect s", "floor s", "Presidio s", "Presidio / scrubber time"],
                   [[r["size"], num(r["seconds"], 2), num(r["detect_s"], 2), num(r["floor_s"], 4),
                     num(r.get("presidio_s"), 2), f"{num(r.get('presidio_ratio'), 2)}x"] for r in scaling["sizes"]])
    return lines


def series_lines(series: dict[str, Any]) -> list[str]:
    workers = lambda r: "1 worker" if r.get("workers", 1) == 1 else f"{r['workers']} workers"  # noqa: E731
    rows = [[f"scrubber, layout reuse {'on' if r['reuse_layouts'] else 'off'}, {workers(r)}",
             str(r["files"]), num(r["frames_per_s"], 2), f"{r['delivered']}/{r['files']}"] for r in series["scrubber"]]
    pres = series.get("presidio")
    if pres:
        rows.append(["Presidio (phi), one process", str(pres["files"]), num(pres.get("frames_per_s"), 2),
                     f"{pres['delivered']}/{pres['files']}"])
    lines = [series["input"] + ":", ""] + table(["tool", "files", "frames/s", "delivered"], rows)
    if series.get("ratio_to_presidio"):
        two = series.get("ratio_to_presidio_2_workers")
        lines += ["", f"scrubber (reuse on, 1 worker) / Presidio frames/s: **{series['ratio_to_presidio']}x** "
                      f"(target of issue 5: 20x)" + (f"; with 2 workers: {two}x." if two else ".")]
    stages = series["scrubber"][0].get("stages_ms_per_later_file")
    if stages:
        lines += ["", "Where the time of a file after the layout's first goes (reuse on, 1 worker), ms a file: "
                  + ", ".join(f"{stage} {ms}" for stage, ms in stages.items()) + "."]
    return lines


def codecs_lines(codecs: dict[str, Any]) -> list[str]:
    """writeback.py's own tables (the JPEG clip in the DCT domain, lossless frames kept)."""
    import writeback

    return ["PSNR per frame against the input's decode, away from the boxes grown to whole MCUs; \"naive\": "
            "the frames decoded, blacked out and encoded again at quality 95 by Pillow. Lossless rows: one "
            "box in the middle frame. Single JPEG frames: one box through the DCT path (12-bit: our own "
            "coefficient codec).", "", *writeback.markdown(codecs).splitlines()]


def header_lines(result: dict[str, Any], name: str) -> list[str]:
    m, v, p = result["machine"], result["versions"], result.get("presidio") or {}
    runs: dict[tuple[str, str], list[str]] = {}
    for section, run in (result.get("section_runs") or {}).items():
        runs.setdefault((run["date"], run["command"]), []).append(section)
    measured = "; ".join(f"{', '.join(sections)}: `{command}` on {day}" for (day, command), sections in runs.items())
    lines = [f"### {result['device'].upper()} — `results/{name}` ({result['date']})", "",
             f"Command: `bash benchmarks/run{' --device cuda' if result['device'] == 'cuda' else ''}`, which runs "
             f"`benchmarks/suite.py`, then this report. "
             + (f"Sections measured by {measured}." if measured else f"Measured by `{result['command']}`."),
             f"Machine: {m['cpu']}, {m['cores']} cores{', GPU ' + result['gpu'] if result.get('gpu') else ', no GPU'}, "
             f"Python {m['python']}; " + ", ".join(f"{k} {val}" for k, val in v.items()) + "."]
    if p:
        pv = p.get("versions", {})
        lines.append(f"Presidio: presidio-image-redactor {pv.get('presidio-image-redactor', '?')}, presidio-analyzer "
                     f"{pv.get('presidio-analyzer', '?')}, {p['tesseract']}, tesseract threads "
                     f"{p['tesseract_threads']}, spaCy {pv.get('spacy', '?')} blank English pipeline (no NER model "
                     f"is installable from PyPI), in `{p['venv']}`.")
    if result.get("quick"):
        lines.append("**Quick run** (fewer files and repeats): a smoke test, not a measurement.")
    return lines


def plots(result: dict[str, Any], folder: Path, base: Path) -> list[str]:
    """PNG plots for one results file; returns their paths relative to ``base`` (the README's folder)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    device = result["device"]
    folder.mkdir(parents=True, exist_ok=True)
    made = []
    if "speed" in result:
        rows = result["speed"]["rows"]
        fig, ax = plt.subplots(figsize=(9, 3.5))
        left = [0.0] * len(rows)
        for stage in STAGES:
            values = [r.get("workers_1", {}).get("stages_ms_per_frame", {}).get(stage, 0.0) for r in rows]
            ax.barh([r["kind"] for r in rows], values, left=left, label=stage)
            left = [a + b for a, b in zip(left, values)]
        ax.set_xscale("symlog", linthresh=10)
        ax.set_xlabel("ms per frame (1 worker, warm; symlog scale)")
        ax.set_title(f"scrubber: time per stage ({device})")
        ax.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.01, 0.5))
        fig.tight_layout()
        made.append(_save(fig, folder / f"stages-{device}.png", base))
    if "scaling" in result:
        frames = result["scaling"]["frames"]
        fig, ax = plt.subplots(figsize=(6, 3.5))
        ax.plot([r["frames"] for r in frames], [r["frames_per_s"] for r in frames], "o-", label="scrubber")
        ax.plot([r["frames"] for r in frames], [r["frames"] / r["floor_s"] for r in frames], "s--",
                label="floor (decode + encode)")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("frames in the clip")
        ax.set_ylabel("frames/s")
        ax.set_title(f"frames/s against frames ({device})")
        ax.legend()
        fig.tight_layout()
        made.append(_save(fig, folder / f"fps-vs-frames-{device}.png", base))
    if "accuracy" in result:
        acc = result["accuracy"]
        kinds = sorted({r["kind"] for r in acc["scrubber"]["files"] if not r["text_free"]})
        tools = [t for t in TOOLS if t in acc]
        fig, ax = plt.subplots(figsize=(7, 3.5))
        width = 0.8 / len(tools)
        for i, tool in enumerate(tools):
            recall = []
            for kind in kinds:
                files = [r for r in acc[tool]["files"] if r["kind"] == kind and not r["text_free"]]
                boxes = sum(r["boxes"] for r in files)
                recall.append(sum(r["removed"] for r in files) / boxes if boxes else 0.0)
            ax.bar([k + i * width for k in range(len(kinds))], recall, width, label=tool)
        ax.set_xticks([k + width * (len(tools) - 1) / 2 for k in range(len(kinds))], kinds)
        ax.set_ylim(0, 1)
        ax.set_ylabel("text boxes removed")
        ax.set_title(f"recall per kind of input ({device})")
        ax.legend(fontsize=8)
        fig.tight_layout()
        made.append(_save(fig, folder / f"recall-by-kind-{device}.png", base))
    return made


def _save(fig, path: Path, base: Path) -> str:
    import matplotlib.pyplot as plt

    fig.savefig(path, dpi=100)
    plt.close(fig)
    return os.path.relpath(path, base)


def section(results: Path, base: Path, with_plots: bool = True) -> list[str]:
    lines = [BEGIN, "## Side by side with Presidio (issue 7) — `results/suite-*.json`", "",
             "Regenerated by `benchmarks/report.py` from the results files; do not edit by hand. Recall: a box",
             "counts as removed when at most 2 % of its glyph pixels still stand out (`scrubber/evaluate.py`),",
             "judged in the first, middle and last frame of a clip. \"Found\" (blind to the fill colour): at least",
             "half of a box's glyph pixels changed; found but not removed means covered too tightly or with a",
             "colour that still contrasts. Over-redaction: pixels changed outside the truth boxes grown by 8 px.",
             "Presidio's \"phi\" mode is its default (header values and pattern recognizers); \"all-text\"",
             "redacts every word Tesseract reads, its best case for recall."]
    found = sorted(results.glob("suite-*.json"))
    if not any(p.name == "suite-cuda.json" for p in found):
        lines += ["", "GPU: no results yet (`bash benchmarks/run --device cuda` on a machine with a GPU writes "
                      "`results/suite-cuda.json`, and this report adds it)."]
    for path in found:
        result = json.loads(path.read_text())
        lines += ["", *header_lines(result, path.name)]
        for key, title, render in (("accuracy", "Accuracy on the annotated set", accuracy_lines),
                                   ("speed", "Speed per kind of input", speed_lines),
                                   ("scaling", "Scaling", scaling_lines),
                                   ("series", "Series of one layout", series_lines),
                                   ("codecs", "Writing back in the input's syntax", codecs_lines)):
            if key in result:
                lines += ["", f"#### {title}", "", *render(result[key])]
        if with_plots:
            lines += ["", *(f"![{Path(p).stem}]({p})" for p in plots(result, results / "plots", base))]
    return lines + [END]


def replace_section(text: str, begin: str, end: str, new: str) -> str | None:
    """``text`` with everything from ``begin`` through ``end`` replaced by ``new`` (which holds the
    markers again); None when ``text`` lacks either marker."""
    if begin not in text or end not in text:
        return None
    return text[:text.index(begin)] + new + text[text.index(end) + len(end):]


def rewrite_section_main(doc: str, section: Callable[[Path], list[str]], begin: str, end: str) -> int:
    """The command line of a script that rewrites one section of benchmarks/README.md (between
    ``begin`` and ``end``, appended when missing) from ``section(results folder)``."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--results", type=Path, default=HERE / "results")
    parser.add_argument("--readme", type=Path, default=HERE / "README.md")
    args = parser.parse_args()
    new = "\n".join(section(args.results))
    text = args.readme.read_text()
    replaced = replace_section(text, begin, end, new)
    args.readme.write_text(text.rstrip("\n") + "\n\n" + new + "\n" if replaced is None else replaced)
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--results", default=str(HERE / "results"))
    parser.add_argument("--readme", default=str(HERE / "README.md"))
    parser.add_argument("--no-plots", action="store_true")
    args = parser.parse_args()
    readme = Path(args.readme)
    text = readme.read_text() if readme.exists() else ""
    new = "\n".join(section(Path(args.results), readme.parent, not args.no_plots))
    replaced = replace_section(text, BEGIN, END, new)
    if replaced is None:  # first time: after the introduction (the first blank line after the title block)
        head, _, tail = text.partition("\n\n")
        intro, _, rest = tail.partition("\n\n")
        replaced = f"{head}\n\n{intro}\n\n{new}\n\n{rest}" if text else new + "\n"
    readme.write_text(replaced)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
