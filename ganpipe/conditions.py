"""The runs behind a findings experiment: its own setting at every seed, its condition map at the
map seeds, and where each run's outputs live.

An experiment in params.yaml (findings.experiments.NAME) is a GAN or WGAN config plus an optional
`map`, a grid of knobs to vary. Its runs:

    the experiment's own setting   ("base")              at each of findings.seeds
    every other cell of the map    ("output=tanh+...")   at each of findings.map_seeds

A map cell that equals the experiment's own setting is that setting, not a second run. Each run
writes stages/experiments/NAME/<condition>/seed_<seed>/ with the layout of a training stage.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from pathlib import Path

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


def condition_name(overrides: dict) -> str:
    return "+".join(f"{k}={v}" for k, v in sorted(overrides.items())) or BASE


def conditions(exp, seeds: list[int], map_seeds: list[int]) -> list[Condition]:
    """The experiment's own setting first, then each distinct cell of its map."""
    found = [Condition(BASE, {}, tuple(seeds))]
    keys = list(exp.map)
    for values in itertools.product(*(exp.map[k] for k in keys)):
        overrides = {k: v for k, v in zip(keys, values) if getattr(exp, k) != v}
        name = condition_name(overrides)
        if name not in {c.name for c in found}:
            found.append(Condition(name, overrides, tuple(map_seeds)))
    return found


def config_of(exp, overrides: dict):
    """The experiment's config with a condition's knobs set (validated as any config is)."""
    return type(exp).model_validate({**exp.model_dump(exclude={"map"}), **overrides})


def run_folder(experiment_dir: Path, condition: str, seed: int) -> Path:
    return experiment_dir / condition / f"seed_{seed}"


def jobs(name: str, exp, seeds: list[int], map_seeds: list[int], out: Path) -> list[Job]:
    """Every run of one experiment (outputs under `out`), condition by condition, seed by seed."""
    return [Job(name, c.name, seed, config_of(exp, c.overrides), run_folder(out, c.name, seed))
            for c in conditions(exp, seeds, map_seeds) for seed in c.seeds]
