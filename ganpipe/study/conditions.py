"""The runs behind a findings experiment: its own setting at every seed, its condition map at the
map seeds, and where each run's outputs live.

An experiment in params.yaml (findings.experiments.NAME) is a GAN or WGAN config plus an optional
`map`, a grid of knobs to vary. Its runs:

    the experiment's own setting   ("base")              at each of findings.seeds
    every other cell of the map    ("output=tanh+...")   at each of findings.map_seeds
    a cell the experiment confirms                       at each of findings.seeds as well

A map cell that equals the experiment's own setting is that setting, not a second run. Each run
writes stages/experiments/NAME/<condition>/seed_<seed>/ with the layout of a training stage.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ganpipe.params import cell_config

BASE = "base"


@dataclass(frozen=True)
class Condition:
    name: str  # BASE, or the changed knobs as key=value joined by "+"
    overrides: dict  # knob -> value, on top of the experiment's own setting
    seeds: tuple[int, ...]


@dataclass(frozen=True)
class Job:
    experiment: str
    condition: str
    seed: int
    cfg: object  # the run's full config (an experiment with the condition's knobs, no map)
    folder: Path


def conditions(exp, seeds: list[int], map_seeds: list[int]) -> list[Condition]:
    """The experiment's own setting first, then each cell of its map (at every seed as well if the
    experiment confirms it)."""
    found = [Condition(BASE, {}, tuple(seeds))]
    for name, overrides in exp.cells().items():
        at = [*map_seeds, *seeds] if name in exp.confirm else map_seeds
        found.append(Condition(name, overrides, tuple(dict.fromkeys(at))))
    return found


def run_folder(experiment_dir: Path, condition: str, seed: int) -> Path:
    return experiment_dir / condition / f"seed_{seed}"


def jobs(name: str, exp, seeds: list[int], map_seeds: list[int], out: Path) -> list[Job]:
    """Every run of one experiment (outputs under `out`), condition by condition, seed by seed."""
    return [Job(name, c.name, seed, cell_config(exp, c.overrides), run_folder(out, c.name, seed))
            for c in conditions(exp, seeds, map_seeds) for seed in c.seeds]
