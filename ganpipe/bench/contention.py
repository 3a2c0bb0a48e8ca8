"""The contention part of `ganpipe bench`: the project loop alone, then two copies at once, in
fresh processes, with ganpipe's OpenMP settings (`runtime.openmp_settings`) and with libgomp's
default, taking turns in rounds.

Two runs that share the cores should together do at least the work of one after the other; with
OpenMP's default spin-wait each run's idle threads burn the core the other needs, and both slow
down several-fold. Throughput during the pair is counted only while both were training: the
steps each finished inside the window where the two overlapped, over that window."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

import numpy as np

from ganpipe.bench import worker
from ganpipe.bench.timing import StepClock, summarize
from ganpipe.running.runtime import USER_WAIT_SETTINGS, openmp_settings

if TYPE_CHECKING:
    from ganpipe.bench.config import BenchConfig

# name -> (model, arch): the MLP GAN and the WGAN stage's default nets (conv5 G, fc critic, 5
# critic updates per step: the run that suffered most in the issue that asked for this)
CONTENDERS = {"mlp": ("gan", "mlp"), "wgan": ("wgan", "conv5")}


def settings_env(setting: str) -> dict[str, str]:
    """The environment of a worker: 'ganpipe' (what the ganpipe command sets) or 'default'
    (libgomp's own); a user's own OpenMP waiting variables are left out of both."""
    base = {k: v for k, v in os.environ.items() if k not in USER_WAIT_SETTINGS}
    return {**base, **openmp_settings(base)} if setting == "ganpipe" else base


def overlap_rates(runs: list[dict], batch_size: int) -> list[float]:
    """images/s of each run over the window in which all of them were past their warm-up
    ([latest first tick, earliest last tick]): the steps each made inside it, over its length.
    A step that straddles the window's edge counts for the part inside it (progress is linear
    between ticks), so a run slower than the window is short still gets its rate, not zero."""
    start = max(r["times"][0] for r in runs)
    end = min(r["times"][-1] for r in runs)
    if end <= start:
        raise RuntimeError("the runs did not overlap past their warm-up: give them more steps")
    rates = []
    for r in runs:
        times = np.asarray(r["times"])
        steps = np.arange(len(times))
        done = float(np.interp(end, times, steps) - np.interp(start, times, steps))
        rates.append(done * batch_size / (end - start))
    return rates


def measure(model: str, arch: str, setting: str, source: str, cfg: BenchConfig, threads: int) -> dict:
    """One run alone, then two at once, all under `setting`."""
    env = settings_env(setting)
    spec = {"model": model, "arch": arch, "data": source, "steps": cfg.steps, "warmup": cfg.warmup,
            "batch_size": cfg.batch_size, "seed": cfg.seed, "threads": threads}
    what = f"contention, {model} {arch}, {setting}"
    alone = worker.run(spec, env, what)
    pair = [worker.start({**spec, "hold": True}, env), worker.start({**spec, "seed": cfg.seed + 1, "hold": True}, env)]
    worker.release(pair, what)
    pair = [worker.finish(proc, what) for proc in pair]
    # the warm-up is left out here as everywhere: each run's clock is cut to its timed steps
    timed = [{"times": r["times"][cfg.warmup:]} for r in pair]
    return {"alone": summarize([StepClock(times=alone["times"], faults=alone["faults"])], cfg.warmup,
                               cfg.batch_size)["images_per_s"],
            "pair": overlap_rates(timed, cfg.batch_size)}


def compare_contention(source: str, cfg: BenchConfig, threads: int, rounds: int = 2,
                       contenders: tuple[str, ...] = tuple(CONTENDERS)) -> dict:
    """Per contender and setting: images/s alone, each run's images/s in the pair and the pair's
    combined throughput against one run alone (1.0: two at once do the work of one after the
    other), pooled over `rounds` rounds in which the two settings take turns."""
    result: dict = {"threads": threads, "settings": {"ganpipe": openmp_settings({}), "default": {}}}
    for name in contenders:
        model, arch = CONTENDERS[name]
        runs: dict[str, list[dict]] = {"ganpipe": [], "default": []}
        for _ in range(rounds):
            for setting in runs:
                runs[setting].append(measure(model, arch, setting, source, cfg, threads))
        result[name] = {}
        for setting, measured in runs.items():
            alone = float(np.mean([m["alone"] for m in measured]))
            pair = [float(np.mean([m["pair"][i] for m in measured])) for i in range(2)]
            result[name][setting] = {"alone_images_per_s": alone, "pair_images_per_s": pair,
                                     "combined_vs_alone": sum(pair) / alone,
                                     "rounds": [sum(m["pair"]) / m["alone"] for m in measured]}
    return result
