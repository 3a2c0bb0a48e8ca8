"""The findings' runs on this machine, the default: the stage's own pool of one-thread worker
processes.

Measured alone on this 2-core machine, Dask's LocalCluster made an experiment stage 10-21% slower
than this pool: its scheduler, a nanny per worker and its events take CPU from the training
(README, "Scaling out"). So one machine uses this pool, and Dask (ganpipe.running.cluster) is for a
scheduler that reaches other machines, or SLURM.

The workers fork from a server that has imported torch, MLflow and the training code once (each
import costs seconds, and several processes importing at once on two cores cost more); the server
starts fresh, with nothing of the stage's state (an open MLflow store, torch threads) to inherit.
Each run reports its step through a queue, for the stage's progress. A worker that dies (killed,
out of memory) breaks the whole pool: the runs it broke go to a fresh pool and resume from their
checkpoints, each up to RETRIES times; past that the stage fails with one line naming the run.
"""

from __future__ import annotations

import math
import os
import queue
import signal
import threading
import time
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool

from ganpipe.running.files import InputError
from ganpipe.running.progress import Progress, Run, Throttle
from ganpipe.running.runtime import forkserver_context, prepare_run_process

# every run of the project's largest experiment (9) at once: a run that starts when the others end
# trains alone, leaving a core idle
MAX_WORKERS = 12
RETRIES = 2  # times a run is started again after its worker died; a third death fails the stage
# What a run imports, loaded once in the forkserver: torch._dynamo (imported by torch's optimizers
# on their first step) would otherwise load again in every worker. No MLflow: a run's calls come
# back to the stage, which logs them (tracking.RunRecord), so a worker never opens the store
PRELOAD = ["torch", "torch._dynamo", "ganpipe.training.run", "ganpipe.training.objectives", "ganpipe.training.loop",
           "ganpipe.data.mnist", "ganpipe.pipeline.experiment"]


class WorkerDied(InputError):
    """A run whose worker process died more often than RETRIES; the message names it (the CLI
    prints it as one line and exits non-zero)."""


def workers_for(n_runs: int) -> int:
    """Every run at once (up to MAX_WORKERS): measured on 2 cores, three one-thread runs side by side
    finish sooner than two at a time, and a run left alone at the end would leave a core idle."""
    return max(1, min(n_runs, MAX_WORKERS))


# CPU time the kernel's scheduler gives a process at niceness n, relative to n - 1 (CFS's weights)
NICE_RATIO = 1.25


def niceness(work: float, most: float) -> int:
    """The niceness that gives a run a share of the cores in proportion to its work, against the
    largest run's 0: the runs then progress alike and end together, instead of the longest one
    training alone on one core at the end while the other idles (the heads at 56 px: 4-7 minutes
    of each F4 stage before). Only the scheduler's shares change: every run keeps one thread, and
    its numbers."""
    return min(19, max(0, round(math.log(most / work, NICE_RATIO))))


def context():
    """The forkserver's context, its server running from ganpipe's settings (the spin count libgomp
    reads when torch loads there), whatever started a server in this process before."""
    return forkserver_context(PRELOAD)


def start_server() -> None:
    """Start the forkserver now, before the stage opens its MLflow run: the server's imports (torch,
    MLflow) then load while the stage's own do, on the other core, instead of after them."""
    context()


# --- inside a worker ---------------------------------------------------------------------------

_reports = None  # the stage's queue of (run, step, total, pid)
_stop = None  # set to 1 by the stage to stop its runs (they keep a checkpoint)


def _start_worker(reports, stop) -> None:
    global _reports, _stop
    _reports, _stop = reports, stop
    # Ctrl-C at a terminal reaches the workers as well as the stage: a run in training catches it
    # (ganpipe.training.loop.StopFlag) and keeps a checkpoint; an idle worker waits for the stage to end it
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    threading.Thread(target=_exit_when_orphaned, args=(os.getppid(),), daemon=True).start()


def _exit_when_orphaned(server: int, every: float = 1.0) -> None:
    """End this worker once its forkserver is gone. The server exits when the stage does, however
    the stage ended (SIGKILL, or a SIGTERM to its process group that reached it between two pools);
    a worker left waiting for work that never comes would hold the stage's pipes open forever."""
    while os.getppid() == server:
        time.sleep(every)
    os._exit(1)


def _run(fn, label: str, total: int, args: tuple, nice: int) -> dict:
    try:  # a worker reused for a larger run cannot lower its niceness unprivileged: it keeps the higher
        os.setpriority(os.PRIO_PROCESS, 0, max(nice, os.getpriority(os.PRIO_PROCESS, 0)))
    except PermissionError:
        pass
    settings = {**prepare_run_process(), "nice": os.getpriority(os.PRIO_PROCESS, 0)}
    throttle, pid = Throttle(total), os.getpid()
    _reports.put((label, 0, total, pid))

    def should_stop(step: int) -> bool:
        if throttle.due(step):
            _reports.put((label, step, total, pid))
        return bool(_stop.value)

    return {**fn(*args, should_stop=should_stop), "worker": settings}


# --- in the stage ------------------------------------------------------------------------------


def run_all(runs: list[Run], workers: int, title: str, progress: Progress | None = None, on_done=None) -> list[dict]:
    """Every run in the pool, results in the order given; `on_done(i, result)` as each comes back.
    A run's own error (a diverged run, a bad input) stops the others (checkpoints kept) and is
    raised; so is Ctrl-C."""
    ctx = context()
    progress = progress or Progress(title, len(runs))
    results: dict[int, dict] = {}
    deaths = dict.fromkeys(range(len(runs)), 0)
    try:
        while len(results) < len(runs):
            todo = [i for i in range(len(runs)) if i not in results]
            for i in _one_pool(ctx, runs, todo, workers, progress, results, on_done):
                deaths[i] += 1
                progress.restarted(runs[i].label)
                if deaths[i] > RETRIES:
                    raise WorkerDied(f"run {runs[i].label}: its worker process died {deaths[i]} times (killed, or out "
                                     f"of memory?); the finished runs are kept, and running the stage again resumes "
                                     f"this one from its checkpoint")
        return [results[i] for i in range(len(runs))]
    finally:
        progress.close()


def _one_pool(ctx, runs: list[Run], todo: list[int], workers: int, progress: Progress, results: dict,
              on_done=None) -> list[int]:
    """Run `todo` in a fresh pool until done or the pool breaks; return the runs whose worker died.

    Each pool has its own queue and stop flag: a worker killed while writing may leave a lock held."""
    reports, stop = ctx.Queue(), ctx.RawValue("b", 0)
    pool = ProcessPoolExecutor(min(workers, len(todo)), mp_context=ctx, initializer=_start_worker,
                               initargs=(reports, stop))
    in_flight: dict[int, int] = {}  # run -> its worker's pid
    broken = False
    try:
        most = max(runs[i].work for i in todo)
        futures = {pool.submit(_run, runs[i].fn, runs[i].label, runs[i].total, runs[i].args,
                               niceness(runs[i].work, most)): i for i in todo}
        # the pool does not say which worker died; its processes' exit codes do
        processes = list(getattr(pool, "_processes", {}).values())
        index = {runs[i].label: i for i in todo}
        pending = set(futures)
        while pending:
            done, pending = wait(pending, timeout=1, return_when=FIRST_COMPLETED)
            _drain(reports, index, results, in_flight, progress)
            for future in done:
                i = futures[future]
                try:
                    results[i] = future.result()
                except BrokenProcessPool:
                    broken = True
                    continue
                in_flight.pop(i, None)
                progress.finished(runs[i].label)
                if on_done is not None:
                    on_done(i, results[i])
            progress.tick()
    except BaseException:  # Ctrl-C, or a run's own error: the others stop at their next step
        stop.value = 1
        pool.shutdown(wait=True, cancel_futures=True)
        raise
    pool.shutdown(wait=True)
    if not broken:
        return []
    died = {p.pid for p in processes if p.exitcode not in (0, None, -signal.SIGTERM)}
    return [i for i, pid in in_flight.items() if pid in died] or list(in_flight)


def _drain(reports, index: dict[str, int], results: dict, in_flight: dict[int, int], progress: Progress) -> None:
    while True:
        try:
            label, step, total, pid = reports.get_nowait()
        except queue.Empty:
            return
        i = index[label]
        if i not in results:  # a late report of a run already finished
            in_flight[i] = pid
            progress.step(label, step, total)
