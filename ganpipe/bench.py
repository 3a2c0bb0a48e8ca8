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
4. Evaluate-style scoring: `evaluation.Reference(...)` and `.score` at n vs n (10k vs 10k).

Timings depend on the machine and on what else runs on it, so the load average before and after
is part of the result, and no test ever asserts a speed.
"""

from __future__ import annotations

import json
import os
import platform
import resource
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ganpipe.data import load_bundled, to_tensor
from ganpipe.files import read_image_set
from ganpipe.models import make_discriminator, make_generator
from ganpipe.objectives import build
from ganpipe.params import GANParams
from ganpipe.train import fit

# name -> (generator, discriminator): the MLP GAN (the common public shape) and the default conv5
ARCHITECTURES = {"mlp": ("fc", "fc"), "conv5": ("conv5", "fc")}
# Real MNIST test digits, where this machine has them; the bundled digits otherwise.
DEFAULT_DATA = Path("/work/shared/data/mnist-t10k/t10k-images-idx3-ubyte.gz")
SGEMM_SIZE = 2048


@dataclass
class BenchConfig:
    steps: int = 300  # timed steps per loop, split over the rounds
    warmup: int = 20  # untimed steps at the start of every round
    rounds: int = 5  # turns each loop takes (fresh nets each round)
    bf16: bool = True  # also the project loop with precision: bf16
    batch_size: int = 64
    archs: tuple[str, ...] = tuple(ARCHITECTURES)
    data: Path | None = None  # None: DEFAULT_DATA if it exists, else the bundled digits
    classifier: Path | None = None  # None: a freshly initialised DigitCNN (speed is weight-independent)
    eval_n: int = 10_000
    allocator: bool = True
    threads: int | None = None  # None: torch's default (one per core)
    sgemm_size: int = SGEMM_SIZE
    seed: int = 0


# ---------------------------------------------------------------------------------------------
# Data


def resolve_data(path: Path | None) -> str:
    """The data source as a string both this process and the allocator subprocesses can load:
    a file path, or 'bundled'. An explicit path must exist; only the default falls back."""
    if path is not None:
        return str(path)
    return str(DEFAULT_DATA) if DEFAULT_DATA.is_file() else "bundled"


def load_images(source: str) -> np.ndarray:
    """uint8 N x 28 x 28 digits from `resolve_data`'s answer (.npz, PNG folder or IDX file)."""
    if source == "bundled":
        return load_bundled()[0]
    return read_image_set(source)[0]


def tile_to(images: np.ndarray, n: int) -> np.ndarray:
    """Exactly n images, repeating the set when it is smaller. Each repeat is shifted by one more
    pixel, because exact duplicates would sit at distance 0 from each other and skew the k-NN balls."""
    copies = [np.roll(images, shift, axis=2) for shift in range(-(-n // len(images)))]
    return np.concatenate(copies)[:n]


# ---------------------------------------------------------------------------------------------
# Timing


@dataclass
class StepClock:
    """Wall time and the process's minor page-fault count at the start and after every step."""

    times: list[float] = field(default_factory=list)
    faults: list[int] = field(default_factory=list)

    def tick(self) -> None:
        self.times.append(time.perf_counter())
        self.faults.append(resource.getrusage(resource.RUSAGE_SELF).ru_minflt)

    def summary(self, warmup: int, batch_size: int) -> dict[str, float]:
        """Throughput over the steps after the warm-up; the worst single step shows stalls that a
        mean hides (an allocator handing memory back, another process taking the cores)."""
        return summarize([self], warmup, batch_size)


def summarize(clocks: list[StepClock], warmup: int, batch_size: int) -> dict[str, float]:
    """`StepClock.summary` over several rounds: the steps after each round's warm-up, pooled."""
    per_step = np.concatenate([np.diff(c.times[warmup:]) for c in clocks])
    faults = sum(c.faults[-1] - c.faults[warmup] for c in clocks if len(c.faults) > warmup)
    steps, seconds = len(per_step), float(per_step.sum())
    if steps < 1:
        raise ValueError("no timed steps: steps must be at least 1")
    return {
        "steps": steps,
        "seconds": seconds,
        "images_per_s": steps * batch_size / seconds,
        "ms_per_step": 1000 * seconds / steps,
        "median_ms_per_step": 1000 * float(np.median(per_step)),
        "worst_step_ms": 1000 * float(per_step.max()),
        "minor_faults_per_step": float(faults) / steps,
    }


def round_sizes(steps: int, rounds: int) -> list[int]:
    """`steps` split into `rounds` nearly equal parts (fewer rounds when steps < rounds)."""
    rounds = max(1, min(rounds, steps))
    return [steps // rounds + (i < steps % rounds) for i in range(rounds)]


def count_flops(fn: Callable[[], object]) -> int:
    """FLOPs of one call as torch counts them: 2*M*N*K per matmul and the convolutions, forward
    and backward (elementwise ops, norms and the optimizer are not counted)."""
    from torch.utils.flop_counter import FlopCounterMode

    with FlopCounterMode(display=False) as counter:
        fn()
    return int(counter.get_total_flops())


def sgemm_gflops(n: int = SGEMM_SIZE, repeats: int = 5) -> float:
    """This machine's float32 matmul rate at the current thread count: the best of `repeats`
    n x n products (after one untimed call), which is as close to peak as torch gets here."""
    a, b = torch.randn(n, n), torch.randn(n, n)
    out = torch.empty(n, n)
    torch.mm(a, b, out=out)
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        torch.mm(a, b, out=out)
        best = min(best, time.perf_counter() - start)
    return 2 * n**3 / best / 1e9


# The kernels FlopCounterMode counts: matmuls and convolutions, forward and backward
_COUNTED_OPS = ("aten.mm.default", "aten.addmm.default", "aten.bmm.default", "aten.convolution.default",
                "aten.convolution_backward.default")


def record_counted_ops(fn: Callable[[], object]) -> list[tuple]:
    """The matmul and convolution calls of one `fn()`, in order, as (op, args) with every tensor
    argument replaced by a fresh random tensor of the same shape, strides and dtype."""
    from torch.utils._python_dispatch import TorchDispatchMode

    calls: list[tuple] = []

    def clone(x):
        if isinstance(x, torch.Tensor):
            return torch.empty_strided(x.shape, x.stride(), dtype=x.dtype).normal_()
        if isinstance(x, (list, tuple)):
            return type(x)(clone(v) for v in x)
        return x

    class Recorder(TorchDispatchMode):
        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            if str(func) in _COUNTED_OPS:
                calls.append((func, clone(args), clone(kwargs or {})))
            return func(*args, **(kwargs or {}))

    with Recorder():
        fn()
    return calls


def counted_ops_seconds(calls: list[tuple], repeats: int = 20) -> float:
    """Seconds per step of the recorded matmuls and convolutions alone, replayed back to back (best
    of `repeats` after one untimed pass): the part of a step no loop around it can make faster."""
    def replay():
        for func, args, kwargs in calls:
            func(*args, **kwargs)

    replay()
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        replay()
        best = min(best, time.perf_counter() - start)
    return best


# ---------------------------------------------------------------------------------------------
# The project's loop


def gan_params(arch: str, steps: int, batch_size: int, precision: str = "fp32") -> GANParams:
    """The GAN stage's own defaults (a history row with diagnostics every 25 steps, grids every
    500, the end-of-run grid) for one architecture; only the step budget, the batch size and the
    precision are set."""
    generator, discriminator = ARCHITECTURES[arch]
    return GANParams(generator=generator, discriminator=discriminator, steps=steps, batch_size=batch_size,
                     precision=precision)


def run_project_loop(arch: str, data: torch.Tensor, steps: int, warmup: int, batch_size: int,
                     seed: int = 0, precision: str = "fp32") -> tuple[StepClock, dict[str, nn.Module]]:
    """`train.fit` for warmup + steps steps, as `ganpipe train-gan` runs it (no checkpoint file:
    the bench writes nothing but its JSON). Returns the per-step clock and the trained nets."""
    p = gan_params(arch, warmup + steps, batch_size, precision)
    objective = build("gan", p, seed=seed)
    clock = StepClock()

    def tick(step: int) -> bool:  # fit calls this after every finished step
        clock.tick()
        return False

    clock.tick()
    fit(objective, data, p, seed=seed, digest="bench", checkpoint=None, should_stop=tick, progress=False)
    return clock, objective.nets


def project_step_kernels(arch: str, data: torch.Tensor, batch_size: int, seed: int = 0) -> dict:
    """FLOPs of one `GANObjective.step` (d_steps = 1), on fresh nets, and the seconds its matmuls
    and convolutions take when replayed alone: the kernels' own rate, a ceiling for the loop's."""
    from ganpipe.train import Batches

    objective = build("gan", gan_params(arch, 1, batch_size), seed=seed)
    batches = Batches(data, batch_size, seed)
    objective.step(batches)  # Adam's state exists from here on, as in every later step
    flops = count_flops(lambda: objective.step(batches))
    seconds = counted_ops_seconds(record_counted_ops(lambda: objective.step(batches)))
    return {"flops_per_step": flops, "kernel_ms_per_step": 1000 * seconds, "kernel_gflops": flops / seconds / 1e9}


# ---------------------------------------------------------------------------------------------
# The reference loop: how public GAN scripts are written


class DigitsDataset(torch.utils.data.Dataset):
    """uint8 digits served as torchvision.datasets.MNIST serves them: one PIL image per sample,
    through the per-sample transform, with a (dummy) label."""

    def __init__(self, images: np.ndarray, transform):
        self.images, self.transform = images, transform

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i: int):
        from PIL import Image

        return self.transform(Image.fromarray(self.images[i])), 0


@dataclass
class ReferenceGAN:
    G: nn.Module
    D: nn.Module
    opt_g: torch.optim.Optimizer
    opt_d: torch.optim.Optimizer
    latent: int


def reference_gan(arch: str, seed: int = 0) -> ReferenceGAN:
    """The same nets and Adam settings as the project's GAN stage."""
    torch.manual_seed(seed)
    p = gan_params(arch, 1, 64)
    G, D = make_generator(p.generator, p.latent), make_discriminator(p.discriminator)
    betas = (p.beta1, 0.999)
    return ReferenceGAN(G, D, torch.optim.Adam(G.parameters(), lr=p.lr_g, betas=betas),
                        torch.optim.Adam(D.parameters(), lr=p.lr_d, betas=betas), p.latent)


def textbook_step(gan: ReferenceGAN, real: torch.Tensor, log, epoch: int, i: int) -> None:
    """One GAN iteration as the tutorials write it (BCE on logits, since the nets return logits)."""
    G, D = gan.G, gan.D
    b = real.size(0)
    valid, fake_label = torch.ones(b), torch.zeros(b)

    # Train D: maximise log D(x) + log(1 - D(G(z)))
    z = torch.randn(b, gan.latent)
    fake = G(z)
    d_loss = F.binary_cross_entropy_with_logits(D(real), valid) + \
        F.binary_cross_entropy_with_logits(D(fake.detach()), fake_label)
    gan.opt_d.zero_grad()
    d_loss.backward()
    gan.opt_d.step()

    # Train G: maximise log D(G(z))
    z = torch.randn(b, gan.latent)
    fake = G(z)
    g_loss = F.binary_cross_entropy_with_logits(D(fake), valid)
    gan.opt_g.zero_grad()
    g_loss.backward()
    gan.opt_g.step()

    print(f"[Epoch {epoch}] [Batch {i}] [D loss: {d_loss.item():.4f}] [G loss: {g_loss.item():.4f}]", file=log)


def reference_loader(images: np.ndarray, batch_size: int) -> torch.utils.data.DataLoader:
    from torchvision import transforms

    transform = transforms.Compose([transforms.ToTensor(), transforms.Normalize((0.5,), (0.5,))])
    # drop_last so that every step, here as in the project loop, is a full batch
    return torch.utils.data.DataLoader(DigitsDataset(images, transform), batch_size=batch_size, shuffle=True,
                                       drop_last=True)


def run_reference_loop(arch: str, images: np.ndarray, steps: int, warmup: int, batch_size: int,
                       seed: int = 0) -> tuple[StepClock, dict[str, nn.Module]]:
    """The reference loop for warmup + steps iterations, epoch after epoch of the DataLoader."""
    gan = reference_gan(arch, seed)
    loader = reference_loader(images, batch_size)
    total, done, epoch = warmup + steps, 0, 0
    clock = StepClock()
    clock.tick()
    with open(os.devnull, "w") as log:
        while done < total:
            for i, (real, _) in enumerate(loader):
                textbook_step(gan, real, log, epoch, i)
                clock.tick()
                done += 1
                if done == total:
                    break
            epoch += 1
    return clock, {"generator": gan.G, "discriminator": gan.D}


def reference_step_flops(arch: str, images: np.ndarray, batch_size: int, seed: int = 0) -> int:
    """FLOPs of one `textbook_step`, on fresh nets."""
    gan = reference_gan(arch, seed)
    real, _ = next(iter(reference_loader(images, batch_size)))
    with open(os.devnull, "w") as log:
        return count_flops(lambda: textbook_step(gan, real, log, 0, 0))


# ---------------------------------------------------------------------------------------------
# Allocator: the project loop in fresh processes, with and without keep_freed_memory

_WORKER = "from ganpipe.bench import allocator_worker; allocator_worker()"
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


# ---------------------------------------------------------------------------------------------
# Scoring


def time_scoring(images: np.ndarray, n: int, classifier: Path | None, k: int = 5) -> dict:
    """Seconds to embed a reference of n real digits and to score n other images against it,
    as `evaluate` does per model. The scored set is the reference mirrored left-right: as many
    images, not the same ones. Speed does not depend on the weights, so a fresh DigitCNN serves
    when no trained classifier is given."""
    from ganpipe.classifier import DigitCNN, FeatureClassifier, load_classifier
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
    """Both loops on one architecture, back to back in this process, and their FLOPs per step.

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
    e = result["evaluate"]
    if m.get("load_warning"):
        lines += ["", f"WARNING: {m['load_warning']}"]
    lines += ["", f"scoring {e['n']} vs {e['n']} ({e['classifier']}): embed reference {e['embed_reference_s']:.1f} s, "
                  f"score {e['score_s']:.1f} s, total {e['total_s']:.1f} s"]
    return "\n".join(lines)


def _load(values) -> str:
    return "/".join(f"{v:.2f}" for v in values) if values else "?"
