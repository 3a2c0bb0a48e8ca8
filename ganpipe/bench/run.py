"""The whole `ganpipe bench` run: every part in turn, with the machine and its load around it."""

from __future__ import annotations

import os
import platform
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from ganpipe.bench.config import BenchConfig
from ganpipe.bench.loops import (ARCHITECTURES, load_images, project_step_kernels, reference_step_flops, resolve_data,
                                 run_project_loop, run_reference_loop)
from ganpipe.bench.scoring import time_scoring
from ganpipe.bench.timing import StepClock, round_sizes, sgemm_gflops, summarize
from ganpipe.data.images import to_tensor


def bench_architecture(arch: str, data: torch.Tensor, images: np.ndarray, cfg: BenchConfig, peak: float) -> dict:
    """Both loops on one architecture, taking turns in `cfg.rounds` rounds in this process (and
    the project loop in bf16, when asked), and their FLOPs per step.

    GFLOP/s = FLOPs of one training step / mean wall time of a loop step. The wall time includes
    what each loop does besides the step (the project's history rows, diagnostics and grids; the
    reference's DataLoader and print), so this is the rate a run achieves, not a kernel's rate."""
    clocks: dict[str, list[StepClock]] = {"project": [], "reference": [], "project_bf16": []}
    for steps in round_sizes(cfg.steps, cfg.rounds):  # the loops take turns (see the module docstring)
        clocks["project"].append(run_project_loop(arch, data, steps, cfg.warmup, cfg.batch_size, cfg.seed)[0])
        clocks["reference"].append(run_reference_loop(arch, images, steps, cfg.warmup, cfg.batch_size, cfg.seed)[0])
        if cfg.bf16:
            clocks["project_bf16"].append(
                run_project_loop(arch, data, steps, cfg.warmup, cfg.batch_size, cfg.seed, precision="bf16")[0])
    kernels = project_step_kernels(arch, data, cfg.batch_size, cfg.seed)
    out = {"generator": ARCHITECTURES[arch][0], "discriminator": ARCHITECTURES[arch][1]}
    for name, flops in (("project", kernels["flops_per_step"]),
                        ("reference", reference_step_flops(arch, images, cfg.batch_size, cfg.seed))):
        summary = summarize(clocks[name], cfg.warmup, cfg.batch_size)
        gflops = flops / (summary["ms_per_step"] / 1000) / 1e9
        out[name] = {**summary, "flops_per_step": flops, "gflops": gflops, "peak_share": gflops / peak}
    out["speedup"] = out["project"]["images_per_s"] / out["reference"]["images_per_s"]
    if cfg.bf16:  # the same loop with precision: bf16; its matmuls have another peak than sgemm's, so no share
        out["project_bf16"] = summarize(clocks["project_bf16"], cfg.warmup, cfg.batch_size)
        out["speedup_bf16"] = out["project_bf16"]["images_per_s"] / out["reference"]["images_per_s"]
    # each round's ratio on its own: their spread shows how much the VM moved during the bench
    out["round_speedups"] = [summarize([r], cfg.warmup, 1)["seconds"] / summarize([p], cfg.warmup, 1)["seconds"]
                             for p, r in zip(clocks["project"], clocks["reference"])]
    # the project step's matmuls and convolutions alone: their rate bounds the loop's peak share
    out["kernels"] = {"ms_per_step": kernels["kernel_ms_per_step"], "gflops": kernels["kernel_gflops"],
                      "peak_share": kernels["kernel_gflops"] / peak,
                      "step_share": kernels["kernel_ms_per_step"] / out["project"]["ms_per_step"]}
    return out


_THREADING_ENV = ("OMP_NUM_THREADS", "OMP_WAIT_POLICY", "GOMP_SPINCOUNT", "MKL_NUM_THREADS", "KMP_BLOCKTIME")


def machine_info(threads: int) -> dict:
    cpu = platform.processor() or platform.machine()
    try:
        names = [ln.split(":", 1)[1].strip() for ln in Path("/proc/cpuinfo").read_text().splitlines()
                 if ln.startswith("model name")]
        cpu = names[0] if names else cpu
    except OSError:
        pass
    # threading variables change what a step costs on a shared machine; record the ones that are set
    env = {k: os.environ[k] for k in _THREADING_ENV if k in os.environ}
    return {"cpu": cpu, "cores": os.cpu_count(), "threads": threads, "torch": torch.__version__,
            "python": platform.python_version(), "env": env, "load_before": list(os.getloadavg())}


def run_bench(cfg: BenchConfig, progress: Callable[[str], None] | None = None) -> dict:
    """Run every part of the benchmark; returns the JSON-ready result. Sets the process up as the
    pipeline's stages do (runtime.setup_torch), so the project loop is measured as it runs."""
    from ganpipe.running.runtime import keep_freed_memory, setup_torch

    say = progress or (lambda message: None)
    unknown = [a for a in cfg.archs if a not in ARCHITECTURES]
    if unknown:
        raise ValueError(f"unknown architecture {unknown[0]!r}; allowed: {', '.join(ARCHITECTURES)}")
    mallopt = keep_freed_memory()
    setup_torch(cfg.seed, "cpu")
    if cfg.threads is not None:
        torch.set_num_threads(cfg.threads)
    threads = torch.get_num_threads()
    result: dict = {"machine": machine_info(threads)}
    source = resolve_data(cfg.data)
    images = load_images(source)
    data = to_tensor(images)
    result["config"] = {"steps": cfg.steps, "warmup": cfg.warmup, "rounds": cfg.rounds, "batch_size": cfg.batch_size,
                        "data": source, "n_images": len(images), "mallopt_in_process": mallopt}

    say(f"sgemm peak ({cfg.sgemm_size}x{cfg.sgemm_size} float32)")
    peak = sgemm_gflops(cfg.sgemm_size)
    result["sgemm"] = {"size": cfg.sgemm_size, "gflops": peak}

    result["architectures"] = {}
    for arch in cfg.archs:
        say(f"{arch}: project loop and reference loop, {cfg.steps} steps each in {cfg.rounds} alternating rounds")
        result["architectures"][arch] = bench_architecture(arch, data, images, cfg, peak)

    say(f"scoring {cfg.eval_n} vs {cfg.eval_n}")
    result["evaluate"] = time_scoring(images, cfg.eval_n, cfg.classifier)
    result["machine"]["load_after"] = list(os.getloadavg())
    result["machine"]["load_warning"] = load_warning(result["machine"])
    return result


def load_warning(machine: dict) -> str | None:
    """A line saying the timings are not representative when other work shared the cores.

    With fewer free cores than torch threads, OpenMP's spinning threads wait on each other and a
    step can take 5-10x longer with stalls of seconds, which would be read as the loop's cost.
    The 1-minute load average lags, so this catches sustained load, not short bursts."""
    cores, threads = machine["cores"] or 1, machine["threads"]
    before, after = machine["load_before"][0], machine["load_after"][0]
    if before > 0.5 * cores or after > threads + 0.5 * cores:  # the bench itself adds ~threads
        return (f"the machine was busy (1-min load {before:.2f} before, {after:.2f} after, {cores} cores): "
                "these timings are not representative; run again on an idle machine")
    return None
