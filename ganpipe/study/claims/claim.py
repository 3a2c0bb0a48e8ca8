"""What every claim module defines: one `Claim`, everything the pipeline needs to judge it.

A training-based claim (F1, F3 ... F5) reads findings experiments and is judged at every seed of
every condition; a single-run claim (F2, F2b, F6, F7) reads toys, the math or the main models once.

    evidence(runs, condition, seed, ctx, step=None) -> plain numbers (training-based), as the run
                                                       stood at snapshot `step` (None: the end)
    single(inputs)       -> (plain numbers, what the report draws)       (single-run)
    judge(ev, t)         -> a record: observed, thresholds, checks, verdict (see `record`); for a
                            training-based claim `ev` holds the medians over the last third
                            (ganpipe.study.judge)
    validity(ev, v, rule) -> {name: check}: what must hold for the checks to mean anything (`rule`:
                         ganpipe.study.trained.Rule, the calibrated trained / settled checks)
    section(f, r)        -> the report's figure and paragraph (markdown lines)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

REPRODUCED = "reproduced"
# what validity reads; not shown as observed numbers
CURVES = ("fid_curve", "fid_curves", "fid_steps", "g_loss_curve", "g_loss_steps", "snapshot_steps", "emboss_curves",
          "grey_curves")


@dataclass(frozen=True)
class Claim:
    id: str
    title: str
    judge: Callable[[dict, dict], dict]
    section: Callable
    # training-based
    experiments: Callable[[list[str]], list[str]] | None = None  # the sweep -> experiments read (first: its conditions)
    measures: tuple[str, ...] = ()  # the controlled measures its checks read
    # the readings its checks compare with a control's line: evidence key -> measure (a reading that
    # falls between the measure's controls decides nothing: ganpipe.study.judge.clear_of_controls)
    lines: dict[str, str] | None = None
    evidence: Callable | None = None
    validity: Callable | None = None
    own_conditions: bool = False  # the conditions are the first experiment's alone (F5 against conv5's base)
    map_samples: tuple[str, ...] = ()  # experiments whose samples show its condition map
    map_autoscaled: bool = False  # its map's samples also autoscaled per image, as the note's display
    drawn: Callable | None = None  # (runs, params, ctx, rule) -> extra curves and tables the report draws
    # where the note's sentence joins statements the runs may part (F1): part -> the checks it reads,
    # each judged and reported on its own as well as together
    parts: dict[str, tuple[str, ...]] | None = None
    # each check as a reader says it holds ("the samples went black"): the report's plain reasons
    said: dict[str, str] | None = None
    # a clause the report's first table adds to what the runs show (record -> words)
    also: Callable[[dict], str] | None = None
    # single-run
    single: Callable | None = None
    scope: str = ""

    @property
    def seeded(self) -> bool:
        return self.evidence is not None


def record(claim: str, measure: str, observed: dict, thresholds: dict, checks: dict[str, bool]) -> dict:
    """One judged record. The verdict is "reproduced" exactly when every check holds; the checks are
    comparisons of the observed numbers with the thresholds, nothing else: moving a threshold moves
    the verdict. For a training-based claim this is one seed's record (ganpipe.study.verdicts counts seeds)."""
    return {
        "claim": claim,
        "measure": measure,
        "observed": {k: v for k, v in observed.items() if k not in CURVES},
        "thresholds": thresholds,
        "checks": {k: bool(v) for k, v in checks.items()},
        "verdict": REPRODUCED if all(checks.values()) else "not reproduced",
    }


def first_seed(f: dict) -> tuple[str, dict]:
    seed = next(iter(f["seeds"]))
    return seed, f["seeds"][seed]["observed"]


@dataclass(frozen=True)
class SingleInputs:
    """What a single-run claim may read: the params, the stage folders, the findings experiments'
    runs (loaded once), and the real reference its samples are scored against at n images."""

    params: object
    stages: object
    runs: object
    reference: object
    n: int
