"""The benchmark runner's own pieces: one scorer for every tool, peak memory, tables from results.

The timings themselves are never asserted (they live in benchmarks/results); what is checked is
that the scorer tells a cleaned file from an untouched or missing one, and that the tables are
made from a real run's results file.
"""
from __future__ import annotations

import json
import shutil
import subprocess
import sys

import pydicom
import pytest

from .util import ROOT, SAMPLE

BENCH = ROOT / "benchmarks"
sys.path.insert(0, str(BENCH))

import report  # noqa: E402
import score  # noqa: E402
from suite import measured  # noqa: E402


def test_scorer_tells_cleaned_untouched_and_missing_apart(annotated_run):
    name = "us_single.dcm"
    entry = annotated_run.truth[name]
    src = annotated_run.inputs / name

    cleaned = score.score_output(src, annotated_run.output / name, entry)
    assert cleaned["delivered"] and cleaned["removed"] == cleaned["boxes"] == len(entry["boxes"])
    assert cleaned["found"] == cleaned["boxes"]
    assert cleaned["syntax_kept"] and cleaned["header_leaks"] == []

    untouched = score.score_output(src, src, entry)  # a "tool" that returns its input
    assert untouched["delivered"] and untouched["unchanged"]
    assert untouched["removed"] == untouched["found"] == 0
    assert any(a.startswith("PatientName ") for a in untouched["header_leaks"])

    missing = score.score_output(src, None, entry, "TypeError: cannot")
    assert not missing["delivered"] and missing["removed"] == 0 and missing["reason"] == "TypeError: cannot"

    t = score.totals([cleaned, untouched, missing])
    assert t["files"] == 3 and t["delivered"] == 2
    assert t["text_removed"] == cleaned["boxes"] and t["text_boxes"] == 3 * cleaned["boxes"]
    assert t["files_with_header_leaks"] == 1


def test_scorer_counts_glyph_pixels_left_standing(annotated_run, tmp_path):
    """Blanking only the middle rows of each box removes nothing: its glyph edges still show."""
    name = "us_single.dcm"
    entry = annotated_run.truth[name]
    src = annotated_run.inputs / name
    ds = pydicom.dcmread(src)
    pixels = ds.pixel_array.copy()
    for b in entry["boxes"]:
        x0, y0, x1, y1 = b["box"]
        h = y1 - y0
        pixels[y0 + h // 3:y1 - h // 3, x0:x1] = 0
    ds.PixelData = pixels.tobytes()
    ds.file_meta.TransferSyntaxUID = pydicom.uid.ExplicitVRLittleEndian
    out = tmp_path / name
    ds.save_as(out, enforce_file_format=True)
    row = score.score_output(src, out, entry)
    assert row["delivered"] and not row["syntax_kept"]
    assert row["removed"] < row["boxes"] // 2


def test_peak_memory_is_the_commands_own():
    """A child of this (large) test process is measured as itself, not as a copy of its parent."""
    grow = "import numpy as np; a = np.ones(300_000_000, np.uint8); a[::4096] = 2"
    wall, rss, code = measured([sys.executable, "-c", grow])
    small = measured([sys.executable, "-c", "pass"])[1]
    assert code == 0 and wall > 0
    assert 300 <= rss < 600, rss
    assert small < 100, small


def test_peak_memory_also_sums_a_commands_processes(tmp_path):
    """Two children holding 200 MB each for a while: the largest process holds about 200 MB, the
    command and its children together at least 400 (what a machine running workers must hold)."""
    hold = "import numpy as np, time; a = np.ones(200_000_000, np.uint8); a[::4096] = 2; time.sleep(0.6)"
    parent = (f"import subprocess, sys; children = [subprocess.Popen([sys.executable, '-c', {hold!r}]) "
              "for _ in range(2)]; [c.wait() for c in children]")
    report = tmp_path / "peak.json"
    subprocess.run([sys.executable, str(ROOT / "benchmarks" / "peak.py"), str(report), "--", sys.executable,
                    "-c", parent], check=True, timeout=120)
    result = json.loads(report.read_text())
    assert result["exit_code"] == 0
    assert 200 <= result["peak_rss_mb"] < 350, result
    assert result["peak_summed_rss_mb"] >= 400, result


def test_suite_quick_run_and_its_tables(tmp_path):
    """A real (quick) suite run on three annotated files, then the README tables made from it."""
    results = tmp_path / "results"
    command = [sys.executable, str(BENCH / "suite.py"), "--quick", "--no-presidio", "--sections", "accuracy",
               "--json", str(results / "suite-cpu.json")]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads((results / "suite-cpu.json").read_text())
    ours = result["accuracy"]["scrubber"]
    assert len(ours["files"]) == 3 and ours["totals"]["delivered"] == 3
    assert ours["totals"]["phi_removed"] == ours["totals"]["phi_boxes"] > 0
    assert result["machine"]["cores"] and result["versions"]["pydicom"] != "missing"

    readme = tmp_path / "README.md"
    shutil.copy(BENCH / "README.md", readme)
    before = readme.read_text()
    subprocess.run([sys.executable, str(BENCH / "report.py"), "--results", str(results), "--readme", str(readme),
                    "--no-plots"], check=True, timeout=120)
    text = readme.read_text()
    assert text.count(report.BEGIN) == 1 and text.count(report.END) == 1
    t = ours["totals"]
    assert f"{t['phi_removed']}/{t['phi_boxes']}" in text and "Quick run" in text
    outside = before.split(report.BEGIN)[0] if report.BEGIN in before else before
    assert text.startswith(outside.split("\n\n")[0])  # the title is kept
    again = readme.read_text()
    subprocess.run([sys.executable, str(BENCH / "report.py"), "--results", str(results), "--readme", str(readme),
                    "--no-plots"], check=True, timeout=120)
    assert readme.read_text() == again  # regenerating is idempotent


def test_speed_inputs_are_what_the_tables_say():
    import inputs

    sc16 = inputs.source("sc16")
    assert (sc16.Columns, sc16.Rows, sc16.BitsAllocated) == (1024, 768, 16)
    assert sc16.pixel_array.max() > 255
    clip = inputs.first_frames(inputs.source("cine"), 10)
    assert clip.NumberOfFrames == 10 and clip.pixel_array.shape[:3] == (10, 480, 640)
    assert inputs.source("report").Columns == 800 and (SAMPLE / "sc_screenshot.dcm").exists()
    with pytest.raises(ValueError):
        inputs.source("nope")


def test_recall_sweep_draws_each_label_where_its_mask_says():
    """Every case of the recall sweep has three labels of the three heights (two of the large
    heights in "large", the small ones in "small"), inside the image, whose glyph masks sit on
    pixels that differ from the plain frame (they are really drawn; the "bright" ones on the frame
    with its gain up)."""
    import numpy as np
    import recall_sweep

    base = np.ascontiguousarray(pydicom.dcmread(recall_sweep.get_testdata_file("US1_UNCR.dcm")).pixel_array)
    cases = list(recall_sweep.cases(base))
    assert {c.group for c in cases} == {"banner", "tissue", "large", "vertical", "small", "bright", "colour"}
    small = [c for c in cases if c.group == "small"]
    cases = [c for c in cases if c.group != "small"]
    assert len(cases) > 200 and len(small) == 114
    under = {"bright": recall_sweep.brightened(base)}  # the frame each group draws on (else ``base``)
    clip = pydicom.dcmread(recall_sweep.get_testdata_file("color3d_jpeg_baseline.dcm")).pixel_array
    moving = list(recall_sweep.moving_cases(clip))
    assert {c.group for c in moving} == {"moving"} and len(moving) == 30
    plain = [clip[(n * recall_sweep.MOVING_STEP) % len(clip)] for n in range(len(moving))]
    assert len({p.tobytes() for p in plain}) == len(plain)  # every case on another frame
    sector = list(recall_sweep.sector_colour_cases(clip))
    assert {c.group for c in sector} == {"colour"} and len(sector) == 36
    under_sector = [clip[(n * recall_sweep.MOVING_STEP + 2) % len(clip)] for n in range(len(sector))]
    heights = {"large": recall_sweep.LARGE_HEIGHTS, "small": recall_sweep.SMALL_HEIGHTS}
    for case, frame in [(c, under.get(c.group, base)) for c in cases[::17] + cases[-78::5] + small[::5]] + list(
            zip(moving[::7], plain[::7])) + list(zip(sector[::5], under_sector[::5])):
        assert sorted(case.heights) == sorted(heights.get(case.group, recall_sweep.HEIGHTS))
        for (x, y, mask), height in zip(case.glyphs, case.heights):
            h, w = mask.shape
            assert 0 <= x and x + w <= 640 and 0 <= y and y + h <= 480
            across = w if case.group == "vertical" else h  # a vertical label's lines run down the image
            assert height - 2 <= across <= 2 * height + 4  # capitals, and descenders or slashes below them
            changed = np.any(case.image[y:y + h, x:x + w] != frame[y:y + h, x:x + w], axis=-1)
            assert changed[mask].mean() > 0.5, case.condition


def test_recall_sweep_pages_hold_each_label_where_its_mask_says():
    """The "page" cases: every condition once, ten labels of the page's size and a signature twice
    that size, inside the page and apart from each other, whose glyph masks sit on ink (darker
    than the paper by most of the ink's contrast, also on a turned page and through JPEG)."""
    import numpy as np
    import recall_sweep

    cases = list(recall_sweep.page_cases())
    assert len(cases) == 3 * 3 * 2 * 3 * 2 and {c.group for c in cases} == {"page"}
    assert len({tuple(sorted(c.condition.items(), key=str)) for c in cases}) == len(cases)
    rows, cols = recall_sweep.PAGE_SHAPE
    for case in cases[::5]:
        size = case.condition["size"]
        assert case.heights == [size] * 10 + [2 * size] and case.image.shape == (rows, cols, 3)
        grey = case.image.astype(np.float32).mean(axis=-1)
        taken = np.zeros((rows, cols), bool)
        ink = recall_sweep.PAGE_INKS[case.condition["ink"]]
        for index, (x, y, mask) in enumerate(case.glyphs):
            h, w = mask.shape
            assert 0 <= x and x + w <= cols and 0 <= y and y + h <= rows and mask.any()
            assert not (taken[y:y + h, x:x + w] & mask).any()
            taken[y:y + h, x:x + w] |= mask
            darkest = min(ink, *recall_sweep.PEN) if index == 10 else ink
            assert grey[y:y + h, x:x + w][mask].mean() < recall_sweep.PAPER - (recall_sweep.PAPER - darkest) / 3, \
                case.condition


def test_recall_sweep_shows_each_clip_label_only_in_its_frames():
    """The "clip" cases: every label set is drawn in its 1 or 5 frames and in no other frame of
    its span, each clip has one JPEG quality, and all 30 tissue conditions come twice (1, 5)."""
    import numpy as np
    import recall_sweep

    frames = pydicom.dcmread(recall_sweep.get_testdata_file("color3d_jpeg_baseline.dcm")).pixel_array
    clips = list(recall_sweep.clip_cases(frames))
    cases = [case for _, found in clips for case in found]
    assert len(cases) == 60 and {c.condition["frames"] for c in cases} == set(recall_sweep.CLIP_RUNS)
    for whole, found in clips[::2]:
        assert whole.shape == frames.shape and len({c.condition["jpeg"] for c in found}) == 1
        for slot, case in enumerate(found):
            span = slice(slot * recall_sweep.CLIP_SPAN, (slot + 1) * recall_sweep.CLIP_SPAN)
            assert np.shares_memory(case.image, whole) and len(case.shown) == case.condition["frames"]
            plain = [recall_sweep._jpeg(frame, case.condition["jpeg"]) for frame in frames[span]]
            for index, frame in enumerate(plain):
                for x, y, mask in case.glyphs:
                    h, w = mask.shape
                    changed = np.any(case.image[index, y:y + h, x:x + w] != frame[y:y + h, x:x + w], axis=-1)
                    assert (changed[mask].mean() > 0.5) == (index in case.shown), (case.condition, index)


def test_recall_sweep_draws_each_static_label_in_every_frame_of_its_clip():
    """The "static" cases: a banner condition each, its three labels drawn on banners in every
    frame of a stretch of the clip that moves under them, each case starting at another frame."""
    import numpy as np
    import recall_sweep

    frames = pydicom.dcmread(recall_sweep.get_testdata_file("color3d_jpeg_baseline.dcm")).pixel_array
    cases = list(recall_sweep.static_cases(frames))
    assert len(cases) == len(list(recall_sweep.banner_conditions())) == 198
    starts = [(n * recall_sweep.MOVING_STEP) % (len(frames) - recall_sweep.CLIP_SPAN) for n in range(len(cases))]
    for case, start in list(zip(cases, starts))[::23]:
        assert case.group == "static" and len(case.image) == len(case.shown) == recall_sweep.CLIP_SPAN
        assert sorted(case.heights) == sorted(recall_sweep.HEIGHTS)
        plain = [recall_sweep._jpeg(f, case.condition["jpeg"]) for f in frames[start:start + recall_sweep.CLIP_SPAN]]
        assert len({frame.tobytes() for frame in plain}) > 1  # the image moves under the labels
        for index, frame in enumerate(plain):
            for x, y, mask in case.glyphs:
                h, w = mask.shape
                ink = case.image[index, y:y + h, x:x + w].astype(int)
                assert np.abs(ink - case.image[index, y - 1, x - 1].astype(int))[mask].mean() > 4, case.condition
                assert np.any(case.image[index, y:y + h, x:x + w] != frame[y:y + h, x:x + w], axis=-1)[mask].mean() > 0.5


def test_sweep_report_is_made_from_the_results(tmp_path):
    import sweep_report

    readme = tmp_path / "README.md"
    readme.write_text("# Benchmarks\n\nintro\n")
    command = [sys.executable, str(BENCH / "sweep_report.py"), "--readme", str(readme)]
    subprocess.run(command, check=True, timeout=120)
    text = readme.read_text()
    totals = json.loads((BENCH / "results" / "recall-sweep.json").read_text())["totals"]
    assert f"{totals['banner']['removed']}/{totals['banner']['labels']}" in text
    assert text.count(sweep_report.BEGIN) == 1 and text.startswith("# Benchmarks\n\nintro")
    subprocess.run(command, check=True, timeout=120)
    assert readme.read_text() == text  # regenerating is idempotent


def test_accuracy_table_is_made_from_the_results(tmp_path):
    """The annotated set's table is rewritten from results/accuracy*.json: each file's row and the
    totals come from there (it once fell a day behind the results, typed by hand)."""
    import accuracy_report

    results = tmp_path / "results"
    results.mkdir()
    run = json.loads((BENCH / "results" / "accuracy.json").read_text())
    run["files"][0] |= {"removed": 0, "over_redaction": 0.4321}
    (results / "accuracy.json").write_text(json.dumps(run))
    readme = tmp_path / "README.md"
    readme.write_text(f"# Benchmarks\n\n{accuracy_report.BEGIN}\nold table\n{accuracy_report.END}\n\nafter\n")
    command = [sys.executable, str(BENCH / "accuracy_report.py"), "--results", str(results), "--readme", str(readme)]
    subprocess.run(command, check=True, timeout=120)
    text = readme.read_text()
    first = run["files"][0]
    assert f"| {first['file']} | {first['frames']} | {first['phi_removed']}/{first['phi_boxes']} | 0/{first['boxes']} | 43.21 % | – |" in text
    removed, boxes = sum(f["removed"] for f in run["files"]), sum(f["boxes"] for f in run["files"])
    assert f"**{removed}/{boxes} " in text and "max 43.21 %" in text
    assert "old table" not in text and text.endswith("\n\nafter\n")
    subprocess.run(command, check=True, timeout=120)
    assert readme.read_text() == text  # regenerating is idempotent


def test_a_run_of_some_sections_keeps_the_other_sections():
    """``--sections series`` once rewrote suite-cpu.json with the series alone; a partial run now
    keeps the others, and a full run replaces the file unless ``--merge`` is given."""
    import suite

    assert suite.keeps_others(["series"], merge=False)
    assert suite.keeps_others(list(reversed(suite.SECTIONS)), merge=True)
    assert not suite.keeps_others(list(reversed(suite.SECTIONS)), merge=False)


def test_db_engines_compares_the_two_engines_on_the_same_input():
    import db_engines

    from scrubber.detect.db import model_bytes
    from scrubber.detect.torch_graph import TorchGraph

    rows = db_engines.rows(TorchGraph(model_bytes()[1]), 1)
    assert [row["input"] for row in rows] == [f"{name} x {count}" for name, count in db_engines.INPUTS]
    for row in rows:
        assert set(row["median_ms"]) == {"onnxruntime (cpu)", "torch (cpu)"} and min(row["median_ms"].values()) > 0
        assert row["max_probability_difference"] < 2e-3
    assert rows[2]["network_pixels"] == 8 * rows[0]["network_pixels"]
