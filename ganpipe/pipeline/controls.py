"""Stage controls: every artifact measure on its positive and negative controls, made from the real
test digits, and the line each one's controls set (ganpipe.measures.controls), into
stages/controls/controls.json.

A stage of its own, seconds long, so the findings and the main models' readings judge with the
same lines and a knob of the main models never waits for the study.
"""

from __future__ import annotations

from pathlib import Path

from ganpipe.data.mnist import load_split
from ganpipe.measures.controls import run_controls
from ganpipe.params import Params
from ganpipe.running.files import InputError, write_json
from ganpipe.running.tracking import stage_run

CONTROLS = Path("stages/controls/controls.json")


def prove_measures(params: Params, out: Path, data_path: Path) -> dict:
    with stage_run("controls", params, groups=("findings",)) as run:
        controls = run_controls(load_split(data_path, "test").images, params.findings.controls)
        write_json(out / "controls.json", controls)
        run.log_metrics({f"{name}.separates": float(c["separates"]) for name, c in controls.items()}, 0)
    return controls


def read_controls(path: Path = CONTROLS) -> dict:
    import json

    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise InputError(f"{path}: file not found (run `dvc repro controls` first)") from None
