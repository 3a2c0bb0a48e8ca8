"""The one training loop, shared by the autoencoder, the VAE, the GAN and the WGAN.

    for step in 1..steps:
        metrics = objective.step(next_batch)          # tensors only: no host sync (bf16 autocast if asked)
        every log_every:   one sync -> history row (+ diagnostics), NaN guard, MLflow (batched)
        every grid_every:  fixed-noise samples -> snapshot + grid PNG (and a snapshot at step 0)
        every checkpoint_every, or on SIGINT/SIGTERM: checkpoint (resume continues bit-exactly)

Data are one in-memory tensor; batches follow a seeded permutation per epoch.
"""

from __future__ import annotations

import csv
import io
import signal
import sys
import threading
import time
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from torch import Tensor

from ganpipe.data.images import grid_png, to_uint8
from ganpipe.params import LoopParams
from ganpipe.running.files import InputError, load_torch, save_torch
from ganpipe.training.objectives import Objective


class TrainingDiverged(RuntimeError):
    """A loss became NaN or infinite; the message says where and what to try."""


class Interrupted(RuntimeError):
    """SIGINT/SIGTERM arrived; a checkpoint of the last finished step was written."""


class Batches:
    """Seeded, resumable batch order over an in-memory tensor (drops the ragged last batch)."""

    def __init__(self, data: Tensor, batch_size: int, seed: int):
        if len(data) < batch_size:
            raise InputError(f"batch_size {batch_size} is larger than the training set ({len(data)} images)")
        self.data, self.batch_size, self.seed = data, batch_size, seed
        self.epoch, self.position = 0, 0
        self._order = self._permutation()

    def _permutation(self) -> Tensor:
        g = torch.Generator().manual_seed(self.seed * 1_000_003 + self.epoch)
        return torch.randperm(len(self.data), generator=g)

    def __call__(self) -> Tensor:
        if self.position + self.batch_size > len(self.data):
            self.epoch, self.position = self.epoch + 1, 0
            self._order = self._permutation()
        idx = self._order[self.position : self.position + self.batch_size]
        self.position += self.batch_size
        return self.data[idx]

    def state_dict(self) -> dict:
        return {"epoch": self.epoch, "position": self.position}

    def load_state_dict(self, state: dict) -> None:
        self.epoch, self.position = state["epoch"], state["position"]
        self._order = self._permutation()


@dataclass
class TrainResult:
    history: list[dict[str, float]] = field(default_factory=list)
    snapshots: dict[int, np.ndarray] = field(default_factory=dict)  # step -> uint8 fixed-noise samples
    seconds: float = 0.0  # wall time of the steps run in this process
    steps_run: int = 0
    resumed_from: int = 0


class StopFlag:
    """SIGINT/SIGTERM set a flag that the loop reads between steps, so a checkpoint is never taken
    mid-update. A second signal interrupts at once."""

    def __init__(self):
        self.raised = False

    def __enter__(self):
        if threading.current_thread() is not threading.main_thread():
            self._old = {}  # signals reach the main thread only; a Dask task is stopped by its should_stop
            return self
        self._old = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
        for s in self._old:
            signal.signal(s, self._handle)
        return self

    def _handle(self, signum, frame):
        if self.raised:
            raise KeyboardInterrupt
        self.raised = True

    def __exit__(self, *exc):
        for s, handler in self._old.items():
            signal.signal(s, handler)


def save_checkpoint(path: Path, step: int, digest: str, objective: Objective, batches: Batches, result: TrainResult,
                    window: list[dict[str, Tensor]]):
    save_torch(path, {
        "window": window,  # metrics of steps not yet averaged into a history row
        "step": step,
        "params_digest": digest,
        "nets": {k: v.state_dict() for k, v in objective.nets.items()},
        "optimizers": {k: v.state_dict() for k, v in objective.optimizers.items()},
        "rng": torch.get_rng_state(),
        "batches": batches.state_dict(),
        "history": result.history,
        "snapshots": {str(k): torch.from_numpy(v) for k, v in result.snapshots.items()},
    })


def load_checkpoint(path: Path, digest: str, objective: Objective, batches: Batches, result: TrainResult,
                    window: list[dict[str, Tensor]]) -> int:
    state = load_torch(path)
    if not isinstance(state, dict) or state.get("params_digest") != digest:
        raise InputError(f"{path}: checkpoint was written with other params (digest {state.get('params_digest') if isinstance(state, dict) else '?'}, "
                         f"now {digest}); delete it or run with --fresh")
    for k, net in objective.nets.items():
        net.load_state_dict(state["nets"][k])
    for k, opt in objective.optimizers.items():
        opt.load_state_dict(state["optimizers"][k])
    torch.set_rng_state(state["rng"])
    batches.load_state_dict(state["batches"])
    result.history = list(state["history"])
    result.snapshots = {int(k): v.numpy() for k, v in state["snapshots"].items()}
    window[:] = state["window"]
    return int(state["step"])


def fit(
    objective: Objective,
    data: Tensor,
    cfg: LoopParams,
    *,
    seed: int,
    digest: str,
    checkpoint: Path | None = None,
    stop_on_nan: bool = True,
    on_log: Callable[[dict[str, float], int], None] | None = None,
    on_grid: Callable[[bytes, int], None] | None = None,
    should_stop: Callable[[int], bool] | None = None,
    progress: bool | None = None,
) -> TrainResult:
    """Train `objective` for cfg.steps steps; resume from `checkpoint` when it exists."""
    torch.manual_seed(seed)
    batches = Batches(data, cfg.batch_size, seed)
    fixed = torch.Generator().manual_seed(seed + 1)  # grids and diagnostics: independent of training RNG
    grid_z = torch.randn(max(64, getattr(cfg, "snapshot_size", 64)), objective.latent, generator=fixed)
    probe_idx = torch.randperm(len(data), generator=fixed)[: min(64, len(data))]
    objective.set_probe(data[probe_idx], torch.randn(len(probe_idx), objective.latent, generator=fixed))

    result = TrainResult()
    window: list[dict[str, Tensor]] = []
    start = 0
    if checkpoint is not None and checkpoint.exists():
        start = load_checkpoint(checkpoint, digest, objective, batches, result, window)
        result.resumed_from = start

    if start == 0:
        objective.pretrain(batches)
        # step 0, the untrained generator: where every FID curve starts, so a run that has not
        # started learning can be told from one that learned and levelled off
        result.snapshots[0] = to_uint8(_generate(objective, grid_z))

    # autocast covers the step only: grids, samples and diagnostics stay in float32
    autocast = torch.autocast(data.device.type, dtype=torch.bfloat16) if cfg.precision == "bf16" else nullcontext()
    # a terminal gets a bar; a log (`dvc repro`, `dvc exp run` piped) a line every tenth of the run
    show = sys.stdout.isatty() if progress is None else progress
    bar = _progress_bar(cfg.steps, start) if show else None
    lines = progress is None and not show
    began = time.perf_counter()
    with StopFlag() as stop:
        for net in objective.nets.values():
            net.train()
        for step in range(start + 1, cfg.steps + 1):
            objective.iteration = step
            with autocast:
                window.append(objective.step(batches))
            last = step == cfg.steps
            if step % cfg.log_every == 0 or last:
                row = _history_row(window, step)
                window = []
                row.update(objective.diagnose())
                bad = [k for k, v in row.items() if not np.isfinite(v)]
                if bad and stop_on_nan:
                    raise TrainingDiverged(
                        f"training diverged at step {step}: {', '.join(bad)} became {row[bad[0]]}; "
                        "lower the learning rates or change the architecture"
                    )
                result.history.append(row)
                if on_log:
                    on_log(row, step)
            if step % cfg.grid_every == 0 or last:
                images = _generate(objective, grid_z)
                result.snapshots[step] = to_uint8(images)
                if on_grid:
                    on_grid(grid_png(images[:64]), step)
            if bar:
                bar[0].update(bar[1], completed=step)
            elif lines and (step % max(cfg.steps // 10, 1) == 0 or last):
                _progress_line(step, cfg.steps, start, time.perf_counter() - began, result.history[-1:])
            result.steps_run += 1
            requested = stop.raised or (should_stop is not None and should_stop(step))
            interrupted = requested and not last  # a run whose last step is done finishes and writes its outputs
            if checkpoint is not None and not last and (step % cfg.checkpoint_every == 0 or interrupted):
                save_checkpoint(checkpoint, step, digest, objective, batches, result, window)
            if interrupted:
                raise Interrupted(f"interrupted at step {step}; checkpoint {checkpoint} is kept, run again to resume")
    result.seconds = time.perf_counter() - began
    if bar:
        bar[0].stop()
    return result


def _history_row(window: list[dict[str, Tensor]], step: int) -> dict[str, float]:
    """Mean of each metric over the steps since the last row, with a single host sync."""
    keys = list(window[0])
    means = torch.stack([torch.stack([m[k] for m in window]).float().mean() for k in keys]).tolist()
    return {"step": step, **dict(zip(keys, means))}


def _generate(objective: Objective, z: Tensor) -> Tensor:
    for net in objective.nets.values():
        net.eval()
    images = objective.generate(z)
    for net in objective.nets.values():
        net.train()
    return images


def _progress_line(step: int, total: int, start: int, seconds: float, last_row: list[dict]) -> None:
    """One plain line: steps done of total, time so far and left, the last logged losses."""
    left = seconds / max(step - start, 1) * (total - step)
    losses = ", ".join(f"{k} {v:.3g}" for k, v in (last_row[0] if last_row else {}).items()
                       if k.endswith("_loss") or k in ("recon", "kl", "wasserstein"))
    print(f"training: step {step:,}/{total:,} ({100 * step // total}%), {seconds:.0f} s, about {left:.0f} s left"
          + (f"; {losses}" if losses else ""), flush=True)


def _progress_bar(total: int, start: int):
    from rich.progress import Progress

    progress = Progress(transient=True)
    progress.start()
    return progress, progress.add_task("training", total=total, completed=start)


def history_csv(history: list[dict[str, float]]) -> str:
    keys = list(dict.fromkeys(k for row in history for k in row))
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=keys, lineterminator="\n")
    writer.writeheader()
    for row in history:
        writer.writerow({k: (int(v) if k == "step" else f"{v:.6g}") for k, v in row.items()})
    return buf.getvalue()
