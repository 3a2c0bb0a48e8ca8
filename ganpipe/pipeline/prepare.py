"""Stage prepare: read MNIST from data.source, write stages/prepare/mnist.npz and data.json."""

from __future__ import annotations

from pathlib import Path

from ganpipe.data import mnist
from ganpipe.params import Params
from ganpipe.running.files import write_json, write_npz
from ganpipe.running.tracking import stage_run


def prepare_data(params: Params, out: Path) -> dict:
    with stage_run("prepare", params, groups=("data",)) as run:
        arrays, info = mnist.prepare(params.data, params.seed)
        write_npz(out / "mnist.npz", **arrays)
        write_json(out / "data.json", info)
        run.log_artifact(out / "data.json")
    return info
