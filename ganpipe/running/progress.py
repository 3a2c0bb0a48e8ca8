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
    every `every` seconds (a log file)."""

    def __init__(self, title: str, total: int, live: bool | None = None, every: float = 10.0):
        self.title, self.total, self.done = title, total, 0
        self.steps: dict[str, tuple[int, int]] = {}
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

    def step(self, run: str, step: int, total: int) -> None:
        """A run in flight reached `step` of `total`."""
        with self.lock:
            self.steps[run] = (step, total)
            if self.live:
                if run not in self.tasks:
                    self.tasks[run] = self.bars.add_task(f"  {run}", total=total)
                self.bars.update(self.tasks[run], completed=step)

    def finished(self, label: str) -> None:
        with self.lock:
            self.done += 1
            self.steps.pop(label, None)
            if self.live:
                self.bars.update(self.overall, completed=self.done)
                if label in self.tasks:
                    self.bars.remove_task(self.tasks.pop(label))

    def restarted(self, label: str) -> None:
        """A run lost its worker and goes back to the queue: no longer in flight."""
        with self.lock:
            self.steps.pop(label, None)
            if self.live and label in self.tasks:
                self.bars.remove_task(self.tasks.pop(label))

    def tick(self) -> None:
        """Called every couple of seconds: print the plain line when it is due."""
        if self.live or time.monotonic() - self.printed < self.every:
            return
        self.printed = time.monotonic()
        print(self.line(), file=sys.stderr, flush=True)

    def line(self) -> str:
        with self.lock:
            flight = ", ".join(f"{run} {s}/{t}" for run, (s, t) in sorted(self.steps.items()))
        return f"{self.title}: {self.done}/{self.total} runs done" + (f"; in flight: {flight}" if flight else "")

    def close(self) -> None:
        if self.live:
            self.bars.stop()
