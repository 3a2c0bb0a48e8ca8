"""Timing tools of `ganpipe bench`: per-step clocks pooled over rounds, FLOP counts, the
machine's sgemm rate, and the replay of a step's matmuls and convolutions alone."""

from __future__ import annotations

import resource
import time
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import torch

SGEMM_SIZE = 2048


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


