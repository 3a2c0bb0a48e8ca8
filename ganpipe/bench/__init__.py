"""`ganpipe bench`: how fast the project trains and scores, against the common way of doing it.

Measured for each default GAN architecture (ARCHITECTURES), in one process:

1. Training throughput, images/s, of the project's loop (`train.fit` on `objectives.build("gan")`
   over one in-memory tensor) and of a REFERENCE loop written the way public GAN scripts are (a
   torchvision-style Dataset handing a PIL image per sample to ToTensor + Normalize, a shuffling
   DataLoader, the textbook step inline with a second G forward for the G update, `.item()` and a
   print every iteration). Same nets, data, batch size, optimizer settings, thread count and
   number of timed steps; the same number of warm-up steps is run first and left out of both.
   The two loops take turns, a round of each at a time (`rounds`), because this kind of VM
   changes speed by up to 50% from one minute to the next: back to back, one loop could get the
   fast minute and the other the slow one, and the ratio would measure the VM.
2. Achieved GFLOP/s of the project loop: FLOPs of one training step (FlopCounterMode) divided by
   the measured seconds per step, as a share of this machine's measured float32 GEMM rate. And
   the ceiling: the same step's matmuls and convolutions replayed alone, at their exact shapes.
   And the project loop once more with `precision: bf16` (autocast), in the same rounds.
3. The allocator: the project loop in fresh processes, with `runtime.keep_freed_memory` and
   with glibc's default (GANPIPE_DEFAULT_MALLOC=1), taking turns in the same rounds, reporting
   images/s, minor page faults per step (getrusage, read inside the process) and the worst step,
   where stalls show.
4. Contention: the project loop alone, then two copies at once (the MLP GAN and the WGAN), in
   fresh processes, with ganpipe's OpenMP settings and with libgomp's default: each run's
   images/s and the pair's combined throughput against one run alone.
5. Seeds: three seeds as parallel one-thread processes (as the findings experiments train them)
   against one seed with torch's threads: the cost of three seeds against one, and each seed's
   images/s beside the reference loop's.
6. Evaluate-style scoring: `evaluation.Reference(...)` and `.score` at n vs n (10k vs 10k).

Timings depend on the machine and on what else runs on it, so the load average before and after
is part of the result, and no test ever asserts a speed.

Here: the configuration, scoring, the whole run and its table. The loops are in `loops.py`, the
clocks, FLOP counts, sgemm peak and kernel replay in `timing.py`, the loop in a fresh process in
`worker.py`, the allocator's comparison in `allocator.py`, contention in `contention.py`, seeds in `seeds.py`.
"""

from __future__ import annotations

import os
import platform
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from ganpipe.bench.allocator import compare_allocator
from ganpipe.bench.contention import compare_contention
from ganpipe.bench.seeds import compare_seeds, format_seeds
from ganpipe.bench.loops import (ARCHITECTURES, gan_params, load_images, project_step_kernels,
                                 reference_gan, reference_step_flops, resolve_data, run_project_loop,
                                 run_reference_loop)
from ganpipe.bench.timing import SGEMM_SIZE, StepClock, count_flops, round_sizes, sgemm_gflops, summarize
from ganpipe.images import to_tensor

__all__ = ["ARCHITECTURES", "BenchConfig", "StepClock", "compare_allocator", "compare_contention", "compare_seeds", "count_flops",
           "format_contention", "format_table", "gan_params", "load_images", "load_warning", "project_step_kernels", "reference_gan",
           "reference_step_flops", "resolve_data", "round_sizes", "run_bench", "run_project_loop",
           "run_reference_loop", "sgemm_gflops", "summarize", "tile_to", "time_scoring"]


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
    allocator: bool = True
    contention: bool = True
    seeds: bool = True
    threads: int | None = None  # None: torch's default (one per core)
    sgemm_size: int = SGEMM_SIZE
    seed: int = 0


# ---------------------------------------------------------------------------------------------
# Scoring


def tile_to(images: np.ndarray, n: int) -> np.ndarray:
    """Exactly n images, repeating the set when it is smaller. Each repeat is shifted by one more
    pixel, because exact duplicates would sit at distance 0 from each other and skew the k-NN balls."""
    copies = [np.roll(images, shift, axis=2) for shift in range(-(-n // len(images)))]
    return np.concatenate(copies)[:n]


def time_scoring(images: np.ndarray, n: int, classifier: Path | None, k: int = 5) -> dict:
    """Seconds to embed a reference of n real digits and to score n other images against it,
    as `evaluate` does per model. The scored set is the reference mirrored left-right: as many
    images, not the same ones. Speed does not depend on the weights, so a fresh DigitCNN serves
    when no trained classifier is given."""
    from ganpipe.digit_cnn import DigitCNN, FeatureClassifier, load_classifier
    from ganpipe.evaluation import Reference

    clf = load_classifier(classifier) if classifier else FeatureClassifier(DigitCNN())
    real = tile_to(images, n)
    fake = np.ascontiguousarray(real[:, :, ::-1])
    start = time.perf_counter()
    reference = Reference(clf, real, k=k)
    embedded = time.perf_counter()
    scores = reference.score(fake)
    done = time.perf_counter()
    return {
        "n": n,
        "classifier": str(classifier) if classifier else "untrained DigitCNN",
        "embed_reference_s": embedded - start,
        "score_s": done - embedded,
        "total_s": done - start,
        "fid": scores["fid"],  # not a benchmark number: shows the scoring ran to the end
    }


# ---------------------------------------------------------------------------------------------
# The whole benchmark


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
    from ganpipe.runtime import keep_freed_memory, setup_torch

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
        if cfg.allocator:
            say(f"{arch}: allocator, two fresh processes")
            result["architectures"][arch]["allocator"] = compare_allocator(arch, source, cfg, threads)

    if cfg.contention:
        say("contention: the MLP GAN and the WGAN alone, then two at once, ganpipe's OpenMP settings and libgomp's default")
        result["contention"] = compare_contention(source, cfg, threads)

    if cfg.seeds:
        say("seeds: three seeds as parallel one-thread processes against one seed")
        result["seeds"] = compare_seeds(source, cfg, threads)

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


# ---------------------------------------------------------------------------------------------
# The table


def format_table(result: dict) -> str:
    """The result as a plain-text report: one block per measurement."""
    m, c = result["machine"], result["config"]
    peak = result["sgemm"]["gflops"]
    lines = [
        f"ganpipe bench: {m['cpu']}, {m['cores']} cores, {m['threads']} torch threads, torch {m['torch']}"
        + "".join(f", {k}={v}" for k, v in m.get("env", {}).items()),
        f"load average (1/5/15 min) before {_load(m['load_before'])}, after {_load(m.get('load_after'))}",
        f"data {c['data']} ({c['n_images']} digits); batch {c['batch_size']}; "
        f"{c['steps']} timed steps per loop in {c['rounds']} alternating rounds, each after {c['warmup']} warm-up steps",
        f"sgemm peak ({result['sgemm']['size']}^2 float32 mm, best of 5): {peak:.1f} GFLOP/s",
        "",
        f"{'training':22s} {'loop':10s} {'images/s':>9s} {'ms/step':>8s} {'median ms':>9s} {'worst ms':>9s} "
        f"{'GFLOP/step':>10s} {'GFLOP/s':>8s} {'of peak':>7s}",
    ]
    for arch, r in result["architectures"].items():
        label = f"{arch} (G {r['generator']}, D {r['discriminator']})"
        for name in ("project", "reference"):
            s = r[name]
            lines.append(f"{label:22s} {name:10s} {s['images_per_s']:9.0f} {s['ms_per_step']:8.1f} "
                         f"{s['median_ms_per_step']:9.1f} {s['worst_step_ms']:9.1f} {s['flops_per_step'] / 1e9:10.3f} "
                         f"{s['gflops']:8.1f} {s['peak_share']:7.1%}")
            label = ""
        rounds = r["round_speedups"]
        lines.append(f"{'':22s} {'ratio':10s} {r['speedup']:8.2f}x   (rounds: {min(rounds):.2f}x-{max(rounds):.2f}x)")
        if "project_bf16" in r:
            s = r["project_bf16"]
            lines.append(f"{'':22s} {'bf16':10s} {s['images_per_s']:9.0f} {s['ms_per_step']:8.1f} "
                         f"{s['median_ms_per_step']:9.1f} {s['worst_step_ms']:9.1f}   "
                         f"(precision: bf16, {r['speedup_bf16']:.2f}x the reference)")
        k = r["kernels"]
        lines.append(f"{'':22s} {'kernels':10s} {'':9s} {k['ms_per_step']:8.1f} {'':9s} {'':9s} {'':10s} "
                     f"{k['gflops']:8.1f} {k['peak_share']:7.1%}   (the step's matmuls/convs alone: "
                     f"{k['step_share']:.0%} of its time)")
    if any("allocator" in r for r in result["architectures"].values()):
        lines += ["", "allocator: the project loop in a fresh process each (keep_freed = ganpipe's mallopt, "
                      "default = GANPIPE_DEFAULT_MALLOC=1)",
                  f"{'arch':8s} {'malloc':11s} {'images/s':>9s} {'ms/step':>8s} {'worst ms':>9s} "
                  f"{'minor faults/step':>18s} {'max RSS MiB':>12s}"]
        for arch, r in result["architectures"].items():
            if "allocator" not in r:
                continue
            a = r["allocator"]
            for name in ("keep_freed", "default"):
                s = a[name]
                lines.append(f"{arch:8s} {name:11s} {s['images_per_s']:9.0f} {s['ms_per_step']:8.1f} "
                             f"{s['worst_step_ms']:9.1f} {s['minor_faults_per_step']:18.1f} {s['max_rss_mib']:12.0f}")
                arch = ""
            lines.append(f"{'':8s} {'ratio':11s} {a['speedup']:8.2f}x")
    if "contention" in result:
        lines += ["", *format_contention(result["contention"])]
    if "seeds" in result:
        reference = {"mlp": r["reference"]["images_per_s"] for a, r in result["architectures"].items() if a == "mlp"}
        lines += ["", *format_seeds(result["seeds"], reference)]
    e = result["evaluate"]
    if m.get("load_warning"):
        lines += ["", f"WARNING: {m['load_warning']}"]
    lines += ["", f"scoring {e['n']} vs {e['n']} ({e['classifier']}): embed reference {e['embed_reference_s']:.1f} s, "
                  f"score {e['score_s']:.1f} s, total {e['total_s']:.1f} s"]
    return "\n".join(lines)


def format_contention(result: dict) -> list[str]:
    ganpipe = ", ".join(f"{k}={v}" for k, v in result["settings"]["ganpipe"].items()) or "the user's own"
    lines = [f"contention: the project loop alone, then two at once, fresh processes, {result['threads']} torch "
             f"threads each (ganpipe = {ganpipe}, default = libgomp's)",
             f"{'loop':8s} {'setting':9s} {'alone img/s':>12s} {'pair img/s, each':>18s} {'together / alone':>17s}  rounds"]
    for name in ("mlp", "wgan"):
        label = name
        for setting, r in result.get(name, {}).items():
            each = " / ".join(f"{v:.0f}" for v in r["pair_images_per_s"])
            rounds = ", ".join(f"{v:.2f}x" for v in r["rounds"])
            lines.append(f"{label:8s} {setting:9s} {r['alone_images_per_s']:12.0f} {each:>18s} "
                         f"{r['combined_vs_alone']:16.2f}x  {rounds}")
            label = ""
    return lines


def _load(values) -> str:
    return "/".join(f"{v:.2f}" for v in values) if values else "?"
