"""The allocator part of `ganpipe bench`: the project loop in fresh processes, with ganpipe's
mallopt (`runtime.keep_freed_memory`) and with glibc's default, taking turns in rounds."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from ganpipe.bench import worker
from ganpipe.bench.timing import StepClock, round_sizes, summarize

if TYPE_CHECKING:
    from ganpipe.bench.config import BenchConfig


# glibc reads these at start-up; a user's own tuning would make "default" mean something else
_GLIBC_TUNING = ("MALLOC_MMAP_MAX_", "MALLOC_TRIM_THRESHOLD_", "MALLOC_TOP_PAD_", "MALLOC_MMAP_THRESHOLD_",
                 "GLIBC_TUNABLES")


def run_allocator_worker(arch: str, default_malloc: bool, source: str, steps: int, cfg: BenchConfig,
                         threads: int) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in _GLIBC_TUNING and k != "GANPIPE_DEFAULT_MALLOC"}
    if default_malloc:
        env["GANPIPE_DEFAULT_MALLOC"] = "1"
    spec = {"arch": arch, "data": source, "steps": steps, "warmup": cfg.warmup, "batch_size": cfg.batch_size,
            "seed": cfg.seed, "threads": threads}
    return worker.run(spec, env, f"allocator, {arch}, default_malloc={default_malloc}")


def compare_allocator(arch: str, source: str, cfg: BenchConfig, threads: int) -> dict:
    """images/s, faults per step and worst step of the project loop, with ganpipe's mallopt
    ('keep_freed') and with glibc's default ('default'), a fresh process for each in every
    round, the two taking turns; speedup = keep_freed / default."""
    runs: dict[str, list[dict]] = {"keep_freed": [], "default": []}
    for steps in round_sizes(cfg.steps, cfg.rounds):
        for name in runs:
            runs[name].append(run_allocator_worker(arch, name == "default", source, steps, cfg, threads))
    out = {}
    for name, worker_runs in runs.items():
        clocks = [StepClock(times=r["times"], faults=r["faults"]) for r in worker_runs]
        out[name] = {**summarize(clocks, cfg.warmup, cfg.batch_size),
                     "mallopt_applied": all(r["mallopt_applied"] for r in worker_runs),
                     "max_rss_mib": max(r["max_rss_mib"] for r in worker_runs)}
    return {**out, "speedup": out["keep_freed"]["images_per_s"] / out["default"]["images_per_s"]}
