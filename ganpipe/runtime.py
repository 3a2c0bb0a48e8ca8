"""Process set-up shared by every command: allocator, threads, seeds, device."""

from __future__ import annotations

import ctypes
import os
import random

# glibc mallopt parameters (malloc.h)
_M_TRIM_THRESHOLD, _M_TOP_PAD, _M_MMAP_MAX = -1, -2, -4


def keep_freed_memory() -> bool:
    """Stop glibc from returning large tensor buffers to the OS after every step.

    By default glibc serves allocations above ~128 KiB with mmap and unmaps them on free, so a
    training loop that allocates the same activations each step page-faults them in again every
    iteration (measured by `ganpipe bench`). Keeping freed memory in the heap removes those faults.
    The same as MALLOC_MMAP_MAX_=0 MALLOC_TRIM_THRESHOLD_=<huge> MALLOC_TOP_PAD_=256MiB, without
    asking users to set variables. Returns False where libc has no mallopt (non-glibc platforms).
    """
    if os.environ.get("GANPIPE_DEFAULT_MALLOC"):  # for benchmarking the default behaviour
        return False
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:
        return False
    ok = libc.mallopt(_M_MMAP_MAX, 0) == 1
    ok &= libc.mallopt(_M_TRIM_THRESHOLD, 2**31 - 1) == 1
    ok &= libc.mallopt(_M_TOP_PAD, 256 * 2**20) == 1
    return bool(ok)


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
