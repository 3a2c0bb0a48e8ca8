"""The committed results are one pipeline's outputs: the report and the findings are the files
dvc.lock records, the report's first screen gives the committed verdicts, and it names a commit of
this history."""

import hashlib
import json
import re
import subprocess
from pathlib import Path

import pytest
import yaml

from ganpipe.study.claims import SEEDED

ROOT = Path(__file__).parents[1]


def locked_outs(stage: str) -> dict[str, str]:
    lock = yaml.safe_load((ROOT / "dvc.lock").read_text())
    return {o["path"]: o["md5"] for o in lock["stages"][stage]["outs"]}


@pytest.mark.parametrize("stage,path", [("report", "reports/report.md"), ("findings", "stages/findings/findings.json"),
                                        ("findings", "stages/findings/verdicts.json"),
                                        ("main-models", "stages/main_models/main_models.json")])
def test_the_committed_file_is_the_one_dvc_lock_records(stage, path):
    assert hashlib.md5((ROOT / path).read_bytes()).hexdigest() == locked_outs(stage)[path], path


def test_the_report_opens_with_the_committed_verdicts():
    first = (ROOT / "reports" / "report.md").read_text().splitlines()[:40]
    verdicts = json.loads((ROOT / "stages" / "findings" / "verdicts.json").read_text())
    for claim in SEEDED:
        row = next(line for line in first if line.startswith(f"| **{claim}** "))
        verdict = row.split(" | ")[3]  # "**mixed** at 1/3 (6-79%) of seeds"
        k_of_n = re.search(r"(?<![\d/])(\d+/\d+)(?![\d/])", verdict).group(1)
        assert verdict.startswith(f"**{verdicts[claim]['verdict']}** ") and k_of_n == verdicts[claim]["holds_in"], row


def test_the_report_names_a_commit_of_this_history():
    commit = re.search(r"commit `([0-9a-f]{7,40})`", (ROOT / "reports" / "report.md").read_text()).group(1)
    git = subprocess.run(["git", "rev-parse", "--is-inside-work-tree"], cwd=ROOT, capture_output=True, text=True)
    if git.returncode != 0:
        pytest.skip("not a git checkout: the report's commit cannot be looked up")
    ancestor = subprocess.run(["git", "merge-base", "--is-ancestor", commit, "HEAD"], cwd=ROOT, capture_output=True)
    assert ancestor.returncode == 0, f"the report names {commit}, not an ancestor of HEAD"
