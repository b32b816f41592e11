"""Known-location rules: the CTP import, the rule format, matching on headers, and `scrubber rules`."""
from __future__ import annotations

import re
from pathlib import Path

import pydicom
import pytest
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, SecondaryCaptureImageStorage, generate_uid

from scrubber.cli import main
from scrubber.detect.rules import (
    RuleError,
    RuleSet,
    builtin_rules,
    clip,
    load_file,
    load_rules,
    parse_condition,
    parse_rule,
    rule_detections,
    rules_for,
)
from scrubber.policy import Policy
from scrubber.rules import import_ctp

from .util import ROOT, without_preamble

SC2000 = "ctp-031-us-siemens-sc2000-1024x768"


def _dataset(**elements) -> Dataset:
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    for keyword, value in elements.items():
        setattr(ds, keyword, value)
    return ds


def _sc2000(**changes) -> Dataset:
    """A header that satisfies CTP's Siemens SC2000 block (US, SECONDARY, 1024 x 768)."""
    elements = {"Modality": "US", "Manufacturer": "SIEMENS", "ManufacturerModelName": "ACUSON SC2000",
                "ImageType": ["DERIVED", "SECONDARY"], "Rows": 768, "Columns": 1024,
                "PatientName": "DOE^JANE", "SOPClassUID": SecondaryCaptureImageStorage}
    elements.update(changes)
    return _dataset(**{k: v for k, v in elements.items() if v is not None})


def _test(condition: dict, ds: Dataset) -> bool:
    from scrubber.detect.rules import Header

    return parse_condition(condition).test(Header(ds))


def _rule_file(folder: Path, name: str, text: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(text)
    return path


USER_RULE = """
[[rule]]
name = "site-banner"
source = "test"
when = { all = [{ tag = "Manufacturer", op = "equals", value = "ACME" }, { tag = "Rows", op = "equals", value = 100 }] }
regions = [[0, 0, 50, 10], [-20, -5, 20, 5]]
"""


# -- the CTP import ----------------------------------------------------------------------------

def test_committed_ctp_rules_match_a_fresh_conversion():
    assert import_ctp.main(["--check"]) == 0
    script = import_ctp.SCRIPT.read_bytes()
    document, skipped = import_ctp.convert(script)
    assert skipped == [] and document.count("\n[[rule]]\n") == 52 == len(builtin_rules())
    readme = (import_ctp.SCRIPT.parent / "README.md").read_text()
    import hashlib

    digest = hashlib.sha256(script).hexdigest()
    assert digest in readme and f'sha256 = "{digest}"' in import_ctp.OUTPUT.read_text()


def test_check_fails_on_a_stale_file(tmp_path):
    stale = tmp_path / "ctp.toml"
    stale.write_text(import_ctp.OUTPUT.read_text().replace("[0, 0, 1024, 60]", "[0, 0, 1024, 59]"))
    assert import_ctp.main(["--check", "-o", str(stale)]) == 1


def test_importer_follows_ctp_precedence_and_syntax():
    leaf = {"tag": "Modality", "op": "equals", "value": "US"}
    script = ('Modality.equals("US") + [0008,0070].contains("a") * ! ( Rows.equals("1") + '
              'ManufacturerModelName.startsWithIgnoreCase ("x)y") )  // trailing comment')
    assert import_ctp.parse_condition(script) == {"any": [leaf, {"all": [
        {"tag": "(0008,0070)", "op": "contains", "value": "a"},
        {"not": {"any": [{"tag": "Rows", "op": "equals", "value": "1"},
                         {"tag": "ManufacturerModelName", "op": "starts_with_ignore_case", "value": "x)y"}]}}]}]}
    assert import_ctp.parse_condition('[00081090].endsWith("9")')["tag"] == "(0008,1090)"
    assert import_ctp.parse_condition('BurnedInAnnotation.equals("")') == {"tag": "BurnedInAnnotation",
                                                                           "op": "is_blank"}
    assert import_ctp.parse_condition('ImageType.matches("ORIGINAL.*")')["op"] == "matches"


def test_importer_skips_and_reports_what_it_cannot_translate():
    script = b"""preamble (not a region)
good { Modality.equals("US") } (0,0,10,10) (-5, -5, 5, 5)
{ Modality.isLessThan("5") } (0,0,1,1)
{ Modality.sounds("US") } (0,0,1,1)
{ Rows.equals(512) } (0,0,1,1)
{ ReferencedImageSequence::Modality.equals("US") } (0,0,1,1)
{ NoSuchKeyword.equals("US") } (0,0,1,1)
{ Modality.contains("") } (0,0,1,1)
{ Modality.matches("\\pL+") } (0,0,1,1)
{ Modality.matches("[a-z&&[^b]]") } (0,0,1,1)
{ Modality.matches("x*") } (0,0,1,1)
{ ( Modality.equals("US") } (0,0,1,1)
{ Modality.equals("US") } (0,0,ten,1)
{ Modality.equals("US") } (0,0,0,1)
{ Modality.equals("US") } no regions here
{ true } (0,0,1,1)
"""
    document, skipped = import_ctp.convert(script, commit="0" * 40)
    assert [s.number for s in skipped] == list(range(2, 16))
    assert "isLessThan" in skipped[0].reason and "unknown method" in skipped[1].reason
    assert "14 skipped" in document and "skipped block 15 (line 16)" in document
    rules = [parse_rule(t, Path("x"), True) for t in __import__("tomllib").loads(document)["rule"]]
    assert [r.name for r in rules] == ["ctp-001-us"] and rules[0].regions == ((0, 0, 10, 10), (-5, -5, 5, 5))
    assert rules[0].note == "preamble / good"
    assert "constant operand 'true'" in skipped[-1].reason and "Java syntax" in skipped[6].reason


# -- ops, nesting and values ---------------------------------------------------------------------

@pytest.mark.parametrize("op, value, true_for, false_for", [
    ("equals", "ACME Medical", "ACME Medical", "acme medical"),
    ("equals_ignore_case", "acme MEDICAL", "ACME Medical", "ACME"),
    ("contains", "ME Me", "ACME Medical", "acme medical"),
    ("contains_ignore_case", "me me", "ACME Medical", "ACME"),
    ("starts_with", "ACME", "ACME Medical", "The ACME"),
    ("starts_with_ignore_case", "acme", "ACME Medical", "The ACME"),
    ("ends_with", "Medical", "ACME Medical", "ACME MEDICAL"),
    ("ends_with_ignore_case", "medical", "ACME MEDICAL", "ACME"),
    ("matches", r"AC\w+ Med.*", "ACME Medical", "The ACME Medical"),
])
def test_text_ops(op, value, true_for, false_for):
    condition = {"tag": "Manufacturer", "op": op, "value": value}
    assert _test(condition, _dataset(Manufacturer=true_for))
    assert not _test(condition, _dataset(Manufacturer=false_for))
    assert not _test(condition, _dataset())  # absent element: false
    assert _test({"not": condition}, _dataset())


def test_number_and_blank_ops():
    assert _test({"tag": "Rows", "op": "greater_than", "value": 500}, _dataset(Rows=512))
    assert not _test({"tag": "Rows", "op": "less_than", "value": 500}, _dataset(Rows=512))
    assert _test({"tag": "WindowWidth", "op": "less_than", "value": 1.5}, _dataset(WindowWidth="1"))
    assert not _test({"tag": "WindowWidth", "op": "less_than", "value": 9}, _dataset(WindowWidth=["1", "2"]))
    assert not _test({"tag": "Rows", "op": "less_than", "value": 9}, _dataset())
    blank = {"tag": "BurnedInAnnotation", "op": "is_blank"}
    assert _test(blank, _dataset()) and _test(blank, _dataset(BurnedInAnnotation=""))
    assert not _test(blank, _dataset(BurnedInAnnotation="YES"))


def test_all_any_not_nest():
    condition = {"all": [{"tag": "Modality", "op": "equals", "value": "US"},
                         {"any": [{"tag": "(0008,1090)", "op": "contains", "value": "X"},
                                  {"not": {"tag": "Rows", "op": "equals", "value": "480"}}]}]}
    assert _test(condition, _dataset(Modality="US", ManufacturerModelName="X1", Rows=480))
    assert _test(condition, _dataset(Modality="US", ManufacturerModelName="Y1", Rows=600))
    assert not _test(condition, _dataset(Modality="US", ManufacturerModelName="Y1", Rows=480))
    assert not _test(condition, _dataset(Modality="CT", ManufacturerModelName="X1", Rows=600))
    assert "and" in parse_condition(condition).describe() and "not Rows" in parse_condition(condition).describe()


def test_values_are_read_as_ctp_reads_them():
    ds = _dataset(ImageType=["ORIGINAL", "PRIMARY"], WindowWidth="1.0", PatientName="DOE^JANE")
    ds.file_meta.ImplementationVersionName = "MINDRAY_7"
    assert _test({"tag": "ImageType", "op": "equals", "value": "ORIGINAL\\PRIMARY"}, ds)
    assert _test({"tag": "WindowWidth", "op": "equals", "value": "1.0"}, ds)  # as written, not as a number
    assert _test({"tag": "ImplementationVersionName", "op": "contains", "value": "MINDRAY"}, ds)
    assert _test({"tag": "PatientName", "op": "equals", "value": "DOE^JANE"}, ds)
    assert not _test({"tag": "ImplementationVersionName", "op": "contains", "value": "M"}, Dataset())


# -- the built-in CTP rules on synthetic headers ---------------------------------------------------

def test_a_ctp_rule_matches_the_header_it_describes():
    matches = {m.name: m for m in load_rules().match(_sc2000())}
    assert list(matches) == [SC2000]
    assert matches[SC2000].boxes == ((230, 50, 490, 420),)  # (230, 50, 260 wide, 370 high)
    assert matches[SC2000].file.name == "ctp.toml"


@pytest.mark.parametrize("change", [
    {"Modality": "CT"}, {"Manufacturer": "GE"}, {"ManufacturerModelName": None},
    {"ImageType": ["ORIGINAL", "PRIMARY"]}, {"Rows": 767}, {"Columns": 1280},
])
def test_one_condition_off_and_the_ctp_rule_does_not_match(change):
    assert SC2000 not in [m.name for m in load_rules().match(_sc2000(**change))]


def test_boxes_are_clipped_to_the_image():
    ds = _dataset(Modality="US", Rows=480, Columns=640)
    ds.file_meta.ImplementationVersionName = "MINDRAY"
    (match,) = load_rules().match(ds)
    assert match.name == "ctp-017-us-mindray" and match.boxes == ((0, 0, 640, 69),)  # 1229 wide in the table
    assert clip((-20, -5, 20, 5), 100, 50) == (80, 45, 100, 50)  # from the right / bottom edge
    assert clip((90, 40, 50, 50), 100, 50) == (90, 40, 100, 50)
    assert clip((100, 0, 5, 5), 100, 50) is None and clip((-500, 0, 100, 5), 100, 50) is None
    assert load_rules().match(_sc2000(Rows=None)) == []  # no image size: no rule applies


def test_rule_detections_repeat_in_every_frame():
    per_frame = rule_detections(load_rules(), _sc2000(), frames=3)
    assert len(per_frame) == 3 and per_frame[0] == per_frame[2] and per_frame[0] is not per_frame[2]
    (detection,) = per_frame[0]
    assert detection.box == (230, 50, 490, 420) and detection.detector == f"rule:{SC2000}"
    assert detection.rendering == "header"
    assert rule_detections(RuleSet(), _sc2000(), frames=2) == [[], []]


# -- user rule folders -----------------------------------------------------------------------------

def test_user_rules_load_after_the_built_in_ones(tmp_path):
    _rule_file(tmp_path / "site", "a.toml", USER_RULE)
    ruleset = load_rules([tmp_path / "site"])
    assert len(ruleset) == len(builtin_rules()) + 1 and list(ruleset)[-1].name == "site-banner"
    (match,) = ruleset.match(_dataset(Manufacturer="ACME", Rows=100, Columns=200))
    assert match.boxes == ((0, 0, 50, 10), (180, 95, 200, 100))
    assert match.file == tmp_path / "site" / "a.toml"
    assert rules_for((str(tmp_path / "site"),)) is rules_for((str(tmp_path / "site"),))
    assert len(rules_for((str(tmp_path / "site"),), known_locations=False)) == 0


@pytest.mark.parametrize("body, message", [
    ('when = { tag = "Modality", op = "sounds_like", value = "US" }\nregions = [[0, 0, 1, 1]]', "unknown op"),
    ('when = { tag = "Modality", op = "equals", value = "US" }', "regions"),
    ('when = { tag = "Modality", op = "equals", value = "US" }\nregions = [[0, 0, 0, 1]]', "positive width"),
    ('when = { tag = "Modality", op = "equals", value = "US" }\nregions = [[0, 0, 1]]', "region"),
    ('when = { tag = "NoSuchThing", op = "equals", value = "US" }\nregions = [[0, 0, 1, 1]]', "unknown tag"),
    ('when = { tag = "PixelData", op = "is_blank" }\nregions = [[0, 0, 1, 1]]', "header values only"),
    ('when = { tag = "Modality", op = "equals" }\nregions = [[0, 0, 1, 1]]', "needs a value"),
    ('when = { tag = "Modality", op = "is_blank", value = "x" }\nregions = [[0, 0, 1, 1]]', "takes no value"),
    ('when = { tag = "Modality", op = "matches", value = "(" }\nregions = [[0, 0, 1, 1]]', "regular expression"),
    ('when = { all = [] }\nregions = [[0, 0, 1, 1]]', "non-empty"),
    ('when = { all = [{ tag = "Modality", op = "equals", value = "US" }], any = [] }\nregions = [[0, 0, 1, 1]]',
     "one of all/any/not"),
    ('regions = [[0, 0, 1, 1]]', "no 'when'"),
    ('colour = "red"\nwhen = { tag = "Modality", op = "is_blank" }\nregions = [[0, 0, 1, 1]]', "unknown key"),
])
def test_a_malformed_rule_names_its_file_and_rule(tmp_path, body, message):
    path = _rule_file(tmp_path / "site", "bad.toml", f'[[rule]]\nname = "broken-one"\n{body}\n')
    with pytest.raises(RuleError, match=message) as caught:
        load_rules([tmp_path / "site"])
    assert str(path) in str(caught.value) and "broken-one" in str(caught.value)


@pytest.mark.parametrize("text, message", [
    ("[[rule]\nname = 1", "cannot read"),
    ('title = "x"\n', "unknown top-level"),
    ("[provenance]\n", "no \\[\\[rule\\]\\]"),
    ('[[rule]]\nname = "no spaces allowed"\n', "name must be"),
])
def test_a_malformed_file_names_itself(tmp_path, text, message):
    path = _rule_file(tmp_path, "bad.toml", text)
    with pytest.raises(RuleError, match=message) as caught:
        load_file(path)
    assert str(path) in str(caught.value)


def test_duplicate_names_and_missing_folders_are_refused(tmp_path):
    _rule_file(tmp_path / "a", "one.toml", USER_RULE)
    _rule_file(tmp_path / "b", "two.toml", USER_RULE)
    with pytest.raises(RuleError, match="already used"):
        load_rules([tmp_path / "a", tmp_path / "b"])
    with pytest.raises(RuleError, match="rules folder not found"):
        load_rules([tmp_path / "missing"])


def test_the_readme_example_is_a_valid_rule(tmp_path):
    readme = (ROOT / "README.md").read_text()
    example = re.search(r"### Known-location rules.*?```toml\n(.*?)```", readme, re.S)[1]
    (rule,) = load_file(_rule_file(tmp_path, "example.toml", example))
    assert len(rule.regions) == 2


def test_policy_fields():
    policy = Policy()
    assert policy.rules_dirs == () and policy.known_locations is True
    assert Policy(rules_dirs=["a", Path("b")]).rules_dirs == ("a", "b")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="rules_dirs"):
        Policy(rules_dirs="site-rules")  # type: ignore[arg-type]


# -- the CLI ---------------------------------------------------------------------------------------

def _write_dicom(path: Path, ds: Dataset) -> Path:
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta.MediaStorageSOPClassUID = ds.SOPClassUID
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
    ds.save_as(path, enforce_file_format=True)
    return path


def test_cli_rules_list(tmp_path, capsys):
    assert main(["rules", "list"]) == 0
    out = capsys.readouterr().out
    assert f"{SC2000}  built-in:ctp.toml  1 region(s)" in out and f"{len(builtin_rules())} rule(s)" in out
    _rule_file(tmp_path / "site", "a.toml", USER_RULE)
    assert main(["rules", "list", "--rules", str(tmp_path / "site")]) == 0
    out = capsys.readouterr().out
    assert f"site-banner  {tmp_path / 'site' / 'a.toml'}  2 region(s)" in out
    assert 'when Manufacturer equals "ACME" and Rows equals "100"' in out
    _rule_file(tmp_path / "bad", "b.toml", '[[rule]]\nname = "x"\nregions = [[0, 0, 1, 1]]\n')
    with pytest.raises(SystemExit) as refused:
        main(["rules", "list", "--rules", str(tmp_path / "bad")])
    assert refused.value.code == 2 and "b.toml: rule 'x': no 'when'" in capsys.readouterr().err


def test_cli_rules_check_prints_matches_and_no_header_values(tmp_path, capsys):
    phi = {"PatientName": "DOE^JANE", "PatientID": "PID-7734521", "InstitutionName": "Saint Elsewhere",
           "StudyDescription": "Renal follow-up"}
    hit = _write_dicom(tmp_path / "hit.dcm", _sc2000(**phi))
    miss = _write_dicom(tmp_path / "miss.dcm", _sc2000(Modality="CT", **phi))
    _rule_file(tmp_path / "site", "a.toml", USER_RULE)
    site = _write_dicom(tmp_path / "site.dcm", _sc2000(Manufacturer="ACME", Rows=100, Columns=200, **phi))
    assert main(["rules", "check", str(hit), str(miss), str(site), "--rules", str(tmp_path / "site")]) == 0
    captured = capsys.readouterr()
    lines = captured.out.splitlines()
    assert lines[0] == f"{hit}: 1 rule(s) match"
    assert lines[1] == f"  {SC2000} (built-in:ctp.toml): x 230-490 y 50-420"
    assert lines[2] == f"{miss}: no rule matches"
    assert lines[4] == f"  site-banner ({tmp_path / 'site' / 'a.toml'}): x 0-50 y 0-10; x 180-200 y 95-100"
    for value in [*phi.values(), "ACUSON", "ACME", "SECONDARY"]:
        assert value not in captured.out + captured.err


def test_cli_rules_check_exit_codes(tmp_path, capsys):
    good = _write_dicom(tmp_path / "good.dcm", _sc2000())
    junk = tmp_path / "junk.dcm"
    junk.write_bytes(b"not dicom at all")
    without_preamble(pydicom.dcmread(good), tmp_path / "bare.dcm")  # the same header, as older archives hold it
    files = [good, junk, tmp_path / "absent.dcm", tmp_path / "bare.dcm"]
    assert main(["rules", "check", *map(str, files)]) == 1
    captured = capsys.readouterr()
    assert f"{junk}: not a DICOM file" in captured.err
    assert "absent.dcm: not a readable DICOM file (FileNotFoundError)" in captured.err
    assert "bare.dcm" not in captured.err
    assert captured.out.count(SC2000) == 2  # good.dcm and bare.dcm match the same rule
    with pytest.raises(SystemExit) as refused:
        main(["rules", "check", str(good), "--rules", str(tmp_path / "missing")])
    assert refused.value.code == 2


def test_cli_run_refuses_bad_rule_options_before_scrubbing(tmp_path, capsys):
    (tmp_path / "in").mkdir()
    for extra, message in ((["--rules", str(tmp_path / "missing")], "rules folder not found"),
                           (["--rules", str(tmp_path), "--no-known-locations"], "exclude each other")):
        with pytest.raises(SystemExit) as refused:
            main(["run", str(tmp_path / "in"), "-o", str(tmp_path / "out"), *extra])
        assert refused.value.code == 2 and message in capsys.readouterr().err
    assert not (tmp_path / "out").exists()
