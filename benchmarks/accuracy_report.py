"""Regenerate the annotated set's table in benchmarks/README.md from results/accuracy*.json.

    .venv/bin/python benchmarks/accuracy_report.py [--results benchmarks/results] [--readme benchmarks/README.md]

Everything between ``<!-- accuracy:begin -->`` and ``<!-- accuracy:end -->`` is rewritten from
what benchmarks/accuracy.py wrote (the default run and the run without known-location rules);
nothing in the table is typed by hand, so it cannot fall behind the results.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from report import pct, rewrite_section_main, table  # noqa: E402

BEGIN, END = "<!-- accuracy:begin -->", "<!-- accuracy:end -->"
DEFAULT, NO_RULES = "accuracy.json", "accuracy-no-rules.json"


def _removed(removed: int, total: int) -> str:
    return f"{removed}/{total}" if total else "–"


def section(results: Path) -> list[str]:
    """The table's lines (markers included); only the markers when the default run is missing."""
    if not (results / DEFAULT).is_file():
        return [BEGIN, END]
    run = json.loads((results / DEFAULT).read_text())
    other = json.loads((results / NO_RULES).read_text()) if (results / NO_RULES).is_file() else None
    without = {f["file"]: f for f in other["files"]} if other else {}
    files = run["files"]
    rows = []
    for f in files:
        alone = without.get(f["file"])
        free = f["text_free"]
        rows.append([f["file"], str(f["frames"]), _removed(f["phi_removed"], f["phi_boxes"]),
                     _removed(f["removed"], f["boxes"]), "–" if free else pct(f["over_redaction"], 2),
                     "–" if free or alone is None else pct(alone["over_redaction"], 2),
                     ("unchanged" if f["unchanged"] else "CHANGED") if free else "", f"{f['seconds']:.2f}"])
    phi, phi_all = sum(f["phi_removed"] for f in files), sum(f["phi_boxes"] for f in files)
    text, text_all = sum(f["removed"] for f in files), sum(f["boxes"] for f in files)
    free = [f for f in files if f["text_free"]]
    marked = [f for f in files if not f["text_free"]]
    rows.append(["**total**", str(sum(f["frames"] for f in files)),
                 f"**{phi}/{phi_all} ({100 * phi / max(1, phi_all):.0f} %)**",
                 f"**{text}/{text_all} ({100 * text / max(1, text_all):.1f} %)**",
                 f"max {pct(max(f['over_redaction'] for f in marked), 2)}, mean "
                 f"{pct(sum(f['over_redaction'] for f in marked) / len(marked), 2)}",
                 f"max {pct(other['totals']['max_over_redaction'], 2)}" if other else "–",
                 f"{sum(f['unchanged'] for f in free)}/{len(free)} unchanged", f"{run['totals']['seconds']:.1f}"])
    command = (f"Command: `.venv/bin/python {run['command']}`, {run['date']}, {run['machine']['cpu']}, "
               f"{run['machine']['cores']} cores")
    if other:
        command += f"; \"without rules\": `.venv/bin/python {other['command']}`, {other['date']}"
    header = ["file", "frames", "PHI boxes removed", "all text boxes removed", "over-redaction", "without rules",
              "text-free", "s"]
    return [BEGIN, command + ".", "", *table(header, rows), END]


if __name__ == "__main__":
    raise SystemExit(rewrite_section_main(__doc__, section, BEGIN, END))
