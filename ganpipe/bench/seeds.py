"""The seeds part of `ganpipe bench`: what three seeds cost against one, the way the findings
experiments train them (`pipeline/experiment.py`: one one-thread process per seed, side by side),
against the alternatives: one seed with torch's threads, and three such runs one after another.

Fresh processes throughout (worker.py). The three parallel runs set up first and start together;
their wall time runs from the first timed step of any of them to the last timed step of all, so a
run that finishes early while the others still train is not counted as throughput it did not add."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from ganpipe.bench import worker
from ganpipe.bench.contention import CONTENDERS, settings_env
from ganpipe.bench.timing import StepClock, summarize

if TYPE_CHECKING:
    from ganpipe.bench.config import BenchConfig


def timed_window(runs: list[dict], warmup: int) -> tuple[float, list[float]]:
    """Wall seconds from the first timed step of any run to the last of every run, and each run's
    own images/s over its timed steps."""
    cut = [np.asarray(r["times"][warmup:]) for r in runs]
    wall = float(max(t[-1] for t in cut) - min(t[0] for t in cut))
    return wall, [float(len(t) - 1) / float(t[-1] - t[0]) for t in cut]


def measure_seeds(model: str, arch: str, source: str, cfg: BenchConfig, threads: int, n_seeds: int = 3) -> dict:
    env = settings_env("ganpipe")
    spec = {"model": model, "arch": arch, "data": source, "steps": cfg.steps, "warmup": cfg.warmup,
            "batch_size": cfg.batch_size, "seed": cfg.seed}
    what = f"seeds, {model} {arch}"
    one = worker.run({**spec, "threads": threads}, env, what)
    one_rate = summarize([StepClock(times=one["times"], faults=one["faults"])], cfg.warmup, cfg.batch_size)["images_per_s"]
    one_thread = worker.run({**spec, "threads": 1}, env, what)
    one_thread_rate = summarize([StepClock(times=one_thread["times"], faults=one_thread["faults"])], cfg.warmup,
                                cfg.batch_size)["images_per_s"]
    procs = [worker.start({**spec, "seed": cfg.seed + i, "threads": 1, "hold": True}, env) for i in range(n_seeds)]
    worker.release(procs, what)
    wall, steps_per_s = timed_window([worker.finish(p, what) for p in procs], cfg.warmup)
    one_wall = cfg.steps * cfg.batch_size / one_rate  # seconds of one seed's timed steps
    return {"one_seed_images_per_s": one_rate, "one_seed_one_thread_images_per_s": one_thread_rate,
            "parallel_per_seed_images_per_s": [s * cfg.batch_size for s in steps_per_s],
            "parallel_wall_s": wall, "one_seed_wall_s": one_wall,
            "parallel_vs_one": wall / one_wall, "sequential_vs_one": float(n_seeds)}


def compare_seeds(source: str, cfg: BenchConfig, threads: int, n_seeds: int = 3,
                  contenders: tuple[str, ...] = tuple(CONTENDERS)) -> dict:
    result: dict = {"threads": threads, "n_seeds": n_seeds}
    for name in contenders:
        model, arch = CONTENDERS[name]
        result[name] = measure_seeds(model, arch, source, cfg, threads, n_seeds)
    return result


def format_seeds(result: dict, reference: dict[str, float]) -> list[str]:
    """`reference`: the reference loop's images/s per contender where the bench measured it."""
    n = result["n_seeds"]
    lines = [f"seeds: {n} seeds as parallel one-thread processes (as the findings experiments run them) against one "
             f"seed with {result['threads']} threads; fresh processes",
             f"{'loop':6s} {'1 seed img/s':>12s} {'1 thread':>9s} {f'{n} parallel, each':>20s} {f'{n} seeds / 1':>13s} "
             f"{'one after another':>18s} {'reference img/s':>16s}"]
    for name in CONTENDERS:
        if name not in result:
            continue
        r = result[name]
        each = " / ".join(f"{v:.0f}" for v in r["parallel_per_seed_images_per_s"])
        ref = f"{reference[name]:.0f}" if name in reference else "-"
        lines.append(f"{name:6s} {r['one_seed_images_per_s']:12.0f} {r['one_seed_one_thread_images_per_s']:9.0f} "
                     f"{each:>20s} {r['parallel_vs_one']:12.2f}x {r['sequential_vs_one']:17.2f}x {ref:>16s}")
    return lines
