"""Process set-up shared by every command: allocator, threads, seeds, device."""

from __future__ import annotations

import ctypes
import os
import random
import socket
from contextlib import contextmanager
from typing import Mapping

# How long an OpenMP thread that has finished its share of a parallel op spins, in iterations of
# libgomp's pause loop, before it sleeps. libgomp's default (300,000) keeps a lone run's threads
# ready for the next of a step's hundreds of small ops, but beside another job on the same cores
# the spinning thread burns the core the other job needs and each side waits on the other. A
# short spin shares the cores and keeps most of a lone run's speed; passive waiting (0) shares
# too but slows a lone run more. The measurements behind 1,000: README, "Sharing the cores".
# How threads wait changes no sum, so numbers stay bit-identical.
SPIN_COUNT = 1000
# Set by a user who tunes OpenMP's waiting themselves; ganpipe then leaves it to them.
USER_WAIT_SETTINGS = ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT")

# glibc mallopt parameters (malloc.h)
_M_TRIM_THRESHOLD, _M_TOP_PAD, _M_MMAP_MAX = -1, -2, -4


def keep_freed_memory() -> bool:
    """Stop glibc from returning large tensor buffers to the OS after every step.

    By default glibc serves allocations above ~128 KiB with mmap and unmaps them on free, so a
    training loop that allocates the same activations each step page-faults them in again every
    iteration (docs/performance.md, "The allocator"). Keeping freed memory in the heap removes those faults.
    The same as MALLOC_MMAP_MAX_=0 MALLOC_TRIM_THRESHOLD_=<huge> MALLOC_TOP_PAD_=256MiB, without
    asking users to set variables. Returns False where libc has no mallopt (non-glibc platforms).
    """
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:
        return False
    ok = libc.mallopt(_M_MMAP_MAX, 0) == 1
    ok &= libc.mallopt(_M_TRIM_THRESHOLD, 2**31 - 1) == 1
    ok &= libc.mallopt(_M_TOP_PAD, 256 * 2**20) == 1
    return bool(ok)


def openmp_settings(environ: Mapping[str, str]) -> dict[str, str]:
    """The OpenMP variables ganpipe adds to a process's environment: a short spin-wait, unless
    the user has chosen how threads wait.

    The same whatever else runs on the machine. The thread count, the other lever on a shared
    machine, stays torch's (one per core this process may use): it changes the order of float
    sums and so the trained weights (a 1-thread WGAN ends with other weights than a 2-thread
    one), and a run's numbers must not depend on what ran beside it."""
    if any(name in environ for name in USER_WAIT_SETTINGS):
        return {}
    return {"GOMP_SPINCOUNT": str(SPIN_COUNT)}


def share_cores_fairly() -> dict[str, str]:
    """Apply `openmp_settings` to this process and the processes it starts; returns what was set.

    libgomp reads its variables once, when torch loads it, so this must run before torch is
    imported (the `ganpipe` command does it first thing). Called later, it still reaches the
    processes this one starts, but not this one."""
    settings = openmp_settings(os.environ)
    os.environ.update(settings)
    return settings


# What a forkserver's children inherit from the environment the server started in, and read once:
# libgomp its wait settings and thread count at torch's import (in the server, which preloads
# torch), glibc its malloc settings at start-up
FORK_ENVIRONMENT = ("GOMP_SPINCOUNT", "OMP_WAIT_POLICY", "OMP_NUM_THREADS", "MALLOC_MMAP_MAX_",
                    "MALLOC_TRIM_THRESHOLD_", "MALLOC_TOP_PAD_")
_our_server: tuple | None = None  # (pid, environment) of the forkserver `forkserver_context` started


def forkserver_context(preload: list[str]):
    """multiprocessing's forkserver context, its server started by ganpipe from this process's
    environment after `share_cores_fairly`, whatever this process did before.

    The server is one per process and its children inherit what it read when it started, so a
    server that other code started first (a measuring pool, a test), or that started before the
    environment changed, would hand its workers another spin count or allocator than ganpipe's:
    such a server is stopped and a fresh one started. Its numbers are the same either way; how
    the runs share the cores is not. Uses CPython's forkserver singleton (3.8 to 3.13)."""
    from multiprocessing import forkserver, get_context

    global _our_server
    share_cores_fairly()
    ctx = get_context("forkserver")
    server = forkserver._forkserver
    env = tuple(os.environ.get(name) for name in FORK_ENVIRONMENT)
    if server._forkserver_pid is not None and _our_server != (server._forkserver_pid, env):
        server._stop()
    ctx.set_forkserver_preload(preload)
    server.ensure_running()
    _our_server = (server._forkserver_pid, env)
    return ctx


def prepare_run_process() -> dict:
    """Set up a worker process (the stage's pool, or a Dask worker that may be reused task after
    task) for one run; returns what it found, recorded with the run (the tests check it).

    One torch thread: the thread count changes the float sums, so a run's numbers would depend on
    the worker. Dask starts its workers with MALLOC_TRIM_THRESHOLD_=65536 (so idle workers hand
    memory back); glibc reads that once, at start, and `keep_freed_memory` (training sets it
    again) replaces it for the process, so a training loop's freed buffers stay in the heap as they
    do in a stage's own process. Neither changes a number, only page faults. The spin count is
    read by libgomp at torch import: a worker started without ganpipe's set-up keeps libgomp's
    default (slower beside other work, same numbers)."""
    import torch

    torch.set_num_threads(1)
    return {"host": socket.gethostname(), "pid": os.getpid(), "threads": torch.get_num_threads(),
            "kept_freed_memory": keep_freed_memory(), "spin_count": os.environ.get("GOMP_SPINCOUNT")}


@contextmanager
def one_thread():
    """Torch and the BLAS behind numpy and scipy on one thread inside the block: for a measure
    whose numbers must not depend on the machine (the thread count changes how float sums are
    split, so a feature differs in its last bits between one and two threads). Parallel work then
    goes across processes, not threads."""
    import torch
    from threadpoolctl import threadpool_limits

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with threadpool_limits(1):
            yield
    finally:
        torch.set_num_threads(before)


def seed_everything(seed: int) -> None:
    import numpy as np
    import torch

    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def pick_device(name: str):
    import torch

    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    return torch.device(name)


def setup_torch(seed: int, device: str = "auto"):
    """Deterministic single-process torch on all cores; returns the device to use."""
    import torch

    keep_freed_memory()
    torch.use_deterministic_algorithms(True, warn_only=True)
    seed_everything(seed)
    return pick_device(device)
