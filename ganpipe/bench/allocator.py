"""The allocator part of `ganpipe bench`: the project loop in fresh processes, with ganpipe's
mallopt (`runtime.keep_freed_memory`) and with glibc's default, taking turns in rounds."""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
from typing import TYPE_CHECKING

import torch

from ganpipe.bench.loops import load_images, run_project_loop
from ganpipe.bench.timing import StepClock, round_sizes, summarize
from ganpipe.data import to_tensor

if TYPE_CHECKING:
    from ganpipe.bench import BenchConfig


_WORKER = "from ganpipe.bench.allocator import allocator_worker; allocator_worker()"
# glibc reads these at start-up; a user's own tuning would make "default" mean something else
_GLIBC_TUNING = ("MALLOC_MMAP_MAX_", "MALLOC_TRIM_THRESHOLD_", "MALLOC_TOP_PAD_", "MALLOC_MMAP_THRESHOLD_",
                 "GLIBC_TUNABLES")


def allocator_worker() -> None:
    """Entry point of the subprocess: set up as every ganpipe stage does (`runtime.setup_torch`,
    which applies keep_freed_memory unless GANPIPE_DEFAULT_MALLOC is set), run the project loop,
    print one JSON line. Page faults are read here, inside the process that takes them."""
    from ganpipe.runtime import keep_freed_memory, setup_torch

    spec = json.loads(sys.argv[1])
    applied = keep_freed_memory()
    setup_torch(spec["seed"], "cpu")
    torch.set_num_threads(spec["threads"])
    data = to_tensor(load_images(spec["data"]))
    clock, _ = run_project_loop(spec["arch"], data, spec["steps"], spec["warmup"], spec["batch_size"], spec["seed"])
    print(json.dumps({"times": clock.times, "faults": clock.faults, "mallopt_applied": applied,
                      "max_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))


def run_allocator_worker(arch: str, default_malloc: bool, source: str, steps: int, cfg: BenchConfig,
                         threads: int) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in _GLIBC_TUNING and k != "GANPIPE_DEFAULT_MALLOC"}
    if default_malloc:
        env["GANPIPE_DEFAULT_MALLOC"] = "1"
    spec = {"arch": arch, "data": source, "steps": steps, "warmup": cfg.warmup, "batch_size": cfg.batch_size,
            "seed": cfg.seed, "threads": threads}
    proc = subprocess.run([sys.executable, "-c", _WORKER, json.dumps(spec)], env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"allocator benchmark subprocess failed ({arch}, default_malloc={default_malloc}):\n"
                           f"{proc.stderr[-2000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


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
