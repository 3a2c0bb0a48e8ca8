"""The settings of one `ganpipe bench` run."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ganpipe.bench.loops import ARCHITECTURES
from ganpipe.bench.timing import SGEMM_SIZE


@dataclass
class BenchConfig:
    steps: int = 300  # timed steps per loop, split over the rounds
    warmup: int = 20  # untimed steps at the start of every round
    rounds: int = 5  # turns each loop takes (fresh nets each round)
    bf16: bool = True  # also the project loop with precision: bf16
    batch_size: int = 64
    archs: tuple[str, ...] = tuple(ARCHITECTURES)
    data: Path | None = None  # None: loops.DEFAULT_DATA if it exists, else the bundled digits
    classifier: Path | None = None  # None: a freshly initialised DigitCNN (speed is weight-independent)
    eval_n: int = 10_000
    threads: int | None = None  # None: torch's default (one per core)
    sgemm_size: int = SGEMM_SIZE
    seed: int = 0
