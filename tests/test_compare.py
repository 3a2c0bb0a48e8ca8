"""Two studies' findings side by side, on hand-made records and on the committed one."""

import json
from pathlib import Path

from typer.testing import CliRunner

from ganpipe.cli import app
from ganpipe.study.compare import _conditions, as_markdown, compare

ROOT = Path(__file__).resolve().parents[1]


def seeded(holds: dict[str, bool], value: float, ok: bool = True) -> dict:
    seeds = {s: {"observed": {"x": value, "name": "a"}, "checks": {"c": h}, "holds": h} for s, h in holds.items()}
    k = sum(holds.values())
    return {"verdict": "mixed" if 0 < k < len(holds) else ("reproduced" if k else "not reproduced"),
            "holds_in": f"{k}/{len(holds)}", "seeds": seeds,
            "validity": {"trained": {"value": {s: 0.1 for s in holds}, "required": "<= 0.5", "ok": ok}}}


def test_a_seed_that_parted_and_a_verdict_that_moved_are_named():
    a = {"F1": seeded({"0": False, "1": True, "2": False}, 1.0), "F7": {"verdict": "reproduced", "holds_in": "1/1"}}
    b = {"F1": seeded({"0": True, "1": True, "2": False}, 1.1), "F7": {"verdict": "reproduced", "holds_in": "1/1"}}
    out = compare(a, b)
    assert out["shared_seeds"] == 3
    assert out["seeds"] == [{"claim": "F1", "condition": "its own setting", "seed": "0", "a": False, "b": True,
                             "checks": ["c"]}]
    assert [v["same"] for v in out["verdicts"]] == [True, True]  # mixed 1/3 and mixed 2/3: the same verdict
    assert out["drift"]["median"] == abs(1.1 - 1.0) / 1.1 and out["drift"]["identical"] == 0.0
    text = as_markdown(out, "intel", "amd")
    assert "| F1 | mixed (1/3 (6-79%)) | mixed (2/3 (21-94%)) | same |" in text
    assert "| F7 | reproduced (1/1) | reproduced (1/1) | same |" in text  # a single run gets no seed interval
    assert "parted at 1." in text


def test_a_seed_valid_on_one_side_only_parted_even_where_its_checks_agree():
    a = {"F1": seeded({"0": True, "1": False, "2": False}, 1.0)}
    b = {"F1": seeded({"0": True, "1": False, "2": False}, 1.0)}
    b["F1"]["seeds"]["2"]["valid"] = False
    assert compare(a, b)["seeds"] == [{"claim": "F1", "condition": "its own setting", "seed": "2", "a": False,
                                       "b": False, "checks": ["valid"]}]


def test_a_validity_check_that_failed_on_one_side_only_is_listed():
    a = {"F4": seeded({"0": False, "1": False}, 1.0)}
    b = {"F4": {**seeded({"0": False, "1": False}, 1.0, ok=False), "verdict": "inconclusive"}}
    out = compare(a, b)
    assert [v["check"] for v in out["validity"]] == ["trained"] and out["seeds"] == []
    assert not out["verdicts"][0]["same"] and out["drift"]["identical"] == 1.0


def test_the_committed_findings_against_themselves_part_nowhere(tmp_path):
    committed = ROOT / "stages" / "findings" / "findings.json"
    moved = json.loads(committed.read_text())
    own = _conditions(moved["F1"])[0]["seeds"]["0"]  # the same dict, wherever the findings keep the own setting
    own["holds"] = not own["holds"]
    (tmp_path / "moved.json").write_text(json.dumps(moved))
    runner = CliRunner()
    same = runner.invoke(app, ["compare", str(committed), str(committed)])
    assert same.exit_code == 0 and "parted at 0." in same.output and "identical to the last digit: 100%" in same.output
    one = runner.invoke(app, ["compare", str(committed), str(tmp_path / "moved.json"), "--a-name", "x", "--b-name", "y"])
    assert one.exit_code == 0 and "parted at 1." in one.output and "| F1 | its own setting | 0 |" in one.output


def test_a_file_that_is_no_findings_record_is_one_line_and_exit_1(tmp_path):
    (tmp_path / "p.json").write_text(json.dumps({"seed": 0}))
    result = CliRunner().invoke(app, ["compare", str(tmp_path / "p.json"), str(tmp_path / "missing.json")])
    assert result.exit_code == 1
    assert result.output.strip().splitlines()[-1].startswith(f"error: {tmp_path / 'p.json'}: not a findings.json")
