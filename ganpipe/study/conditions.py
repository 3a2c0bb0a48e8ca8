"""The runs behind a findings experiment: its own setting at every seed, its condition map at the
map seeds, and where each run's outputs live.

An experiment in findings.yaml (findings.experiments.NAME) is a GAN or WGAN config plus an optional
`map`, a grid of knobs to vary. Its runs:

    the experiment's own setting   ("base")              at each of findings.seeds (or its own `seeds`)
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
    name: str  # BASE, a named cell's name, or a grid cell's changed knobs as key=value joined by "+"
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
    experiment confirms it). An experiment with seeds of its own runs at those instead."""
    seeds = exp.seeds or seeds
    found = [Condition(BASE, {}, tuple(seeds))]
    for name, overrides in exp.cells().items():
        at = [*map_seeds, *seeds] if name in exp.confirm else map_seeds
        found.append(Condition(name, overrides, tuple(dict.fromkeys(at))))
    return found


# knobs that say how a run is watched, not what it trains: left out of a condition's label
LOGGING = ("grid_every", "log_every", "checkpoint_every", "snapshot_size")
# how a reader says a knob's setting; any other knob reads "knob value"
PHRASES = {
    "model": lambda v: f"under the {str(v).upper()}",
    "output": lambda v: f"{v} output",
    "critic_norm": lambda v: "batch-norm critic" if v == "batch" else "critic without norm",
    "critic": lambda v: f"{v} critic",
    "critic_schedule": lambda v: "the paper's critic schedule" if v == "paper" else f"{v} critic schedule",
    "steps": lambda v: f"{int(v):,} steps",
    "image_size": lambda v: f"{v} px",
    "d_pretrain": lambda v: f"D pretrained {v} steps" if v else "no D pretraining",
    "generator": lambda v: f"{v} generator",
}


def label(name: str, overrides: dict | None = None) -> str:
    """A condition as a reader says it, from the knobs it changes (`overrides`, or those its name
    spells): 'critic_norm=batch+grid_every=400+lr=5e-05' reads 'batch-norm critic, lr 5e-05'; the
    experiment's own setting reads 'its own setting'; a named cell without its knobs, its name."""
    if name == BASE:
        return "its own setting"
    if overrides is not None:
        knobs = {k: str(v) for k, v in overrides.items()}
    elif "=" in name:
        knobs = dict(part.split("=", 1) for part in name.split("+"))
    else:
        return name.replace("_", " ")
    if "critic" in knobs and knobs.get("critic_norm") == "batch":  # one critic, said once
        del knobs["critic_norm"]
        knobs["critic"] = f"batch-norm {knobs['critic']}"
    order = sorted((k for k in knobs if k not in LOGGING), key=lambda k: (k != "model", k))
    return ", ".join(PHRASES.get(k, lambda v, k=k: f"{k} {v}")(knobs[k]) for k in order)


def run_folder(experiment_dir: Path, condition: str, seed: int) -> Path:
    return experiment_dir / condition / f"seed_{seed}"


def jobs(name: str, exp, seeds: list[int], map_seeds: list[int], out: Path) -> list[Job]:
    """Every run of one experiment (outputs under `out`), condition by condition, seed by seed."""
    return [Job(name, c.name, seed, cell_config(exp, c.overrides), run_folder(out, c.name, seed))
            for c in conditions(exp, seeds, map_seeds) for seed in c.seeds]
