"""What an executor is given (a `Run`) and what a person watches while the runs train (`Progress`).

Both executors of a findings experiment, the stage's own pool (ganpipe.running.pool) and Dask
(ganpipe.running.cluster), take the same runs and report into the same progress."""

from __future__ import annotations

import sys
import threading
import time
from dataclasses import dataclass
from typing import Callable

REPORT_EVERY = 1.0  # seconds between a run's progress reports (one small message each)


@dataclass
class Run:
    label: str  # "f4_fc base seed 0": names the run in progress and in errors
    total: int  # its steps
    fn: Callable  # fn(*args, should_stop=...) -> dict
    args: tuple
    work: float = 1.0  # its expected compute, in any unit shared by the runs beside it (the pool shares the cores by it)


class Throttle:
    """True about once every REPORT_EVERY seconds, and at a run's last step."""

    def __init__(self, total: int):
        self.total, self.last = total, 0.0

    def due(self, step: int) -> bool:
        now = time.monotonic()
        if now - self.last < REPORT_EVERY and step < self.total:
            return False
        self.last = now
        return True


class Progress:
    """Runs done / total and the step of each run in flight: a live bar on a terminal, else a line
    every `every` seconds (a log file, or `dvc repro`'s output): runs done, how many were restored
    from the run cache and how many train, the run furthest from its end and the time left."""

    def __init__(self, title: str, total: int, live: bool | None = None, every: float = 30.0):
        self.title, self.total, self.done, self.restored = title, total, 0, 0
        self.steps: dict[str, tuple[int, int]] = {}
        self.first: dict[str, tuple[float, int]] = {}  # run -> (when, step) of its first report, for its rate
        self.lock = threading.Lock()
        self.live = sys.stderr.isatty() if live is None else live
        self.every, self.printed = every, time.monotonic()
        if self.live:
            from rich.console import Console
            from rich.progress import BarColumn, MofNCompleteColumn, Progress as Bars, TextColumn, TimeElapsedColumn

            self.bars = Bars(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                             console=Console(stderr=True), transient=True, refresh_per_second=2)
            self.overall = self.bars.add_task(f"{title}: runs", total=total)
            self.tasks: dict[str, int] = {}
            self.bars.start()

    def from_cache(self, n: int) -> None:
        """`n` runs were restored from the run cache: done, and never in flight."""
        with self.lock:
            self.done += n
            self.restored += n
            if self.live:
                self.bars.update(self.overall, completed=self.done,
                                 description=f"{self.title}: runs ({self.restored} from the run cache)")

    def step(self, run: str, step: int, total: int) -> None:
        """A run in flight reached `step` of `total`."""
        with self.lock:
            self.steps[run] = (step, total)
            self.first.setdefault(run, (time.monotonic(), step))
            if self.live:
                if run not in self.tasks:
                    self.tasks[run] = self.bars.add_task(f"  {run}", total=total)
                self.bars.update(self.tasks[run], completed=step)

    def finished(self, label: str) -> None:
        with self.lock:
            self.done += 1
            self.steps.pop(label, None)
            self.first.pop(label, None)
            if self.live:
                self.bars.update(self.overall, completed=self.done)
                if label in self.tasks:
                    self.bars.remove_task(self.tasks.pop(label))

    def restarted(self, label: str) -> None:
        """A run lost its worker and goes back to the queue: no longer in flight."""
        with self.lock:
            self.steps.pop(label, None)
            self.first.pop(label, None)
            if self.live and label in self.tasks:
                self.bars.remove_task(self.tasks.pop(label))

    def tick(self) -> None:
        """Called every couple of seconds: print the plain line when it is due."""
        if self.live or time.monotonic() - self.printed < self.every:
            return
        self.printed = time.monotonic()
        print(self.line(), file=sys.stderr, flush=True)

    def seconds_left(self, run: str, now: float) -> float | None:
        """A run's remaining steps at the rate it has kept since its first report (None before it has one)."""
        step, total = self.steps[run]
        since, first_step = self.first[run]
        if step <= first_step or now <= since:
            return None
        return (total - step) * (now - since) / (step - first_step)

    def line(self) -> str:
        now = time.monotonic()
        with self.lock:
            line = f"{self.title}: {self.done}/{self.total} runs done"
            if self.restored:
                line += f" ({self.restored} from the run cache, {self.total - self.restored} to train)"
            if self.steps:
                slowest = min(self.steps, key=lambda r: self.steps[r][0] / max(self.steps[r][1], 1))
                step, total = self.steps[slowest]
                line += f"; {len(self.steps)} in flight, the furthest behind: {slowest} at step {step}/{total}"
                left = [s for s in (self.seconds_left(r, now) for r in self.steps) if s is not None]
                if left:  # the runs share the cores by their work and end together: the last one ends the stage
                    line += f"; about {_duration(max(left))} left"
        return line

    def close(self) -> None:
        if self.live:
            self.bars.stop()


def _duration(seconds: float) -> str:
    return f"{seconds:.0f} s" if seconds < 90 else f"{seconds / 60:.0f} min"
