"""Dask for the findings' runs: a scheduler that reaches other machines, or SLURM, and how each
worker is set up. One machine uses the stage's own pool (ganpipe.running.pool), measured faster there.

Where the runs go, by configuration outside params.yaml (moving to a cluster changes no
DVC-tracked input, so it re-runs nothing):

    nothing set                          the stage's own pool (ganpipe.running.pool)
    DASK_SCHEDULER_ADDRESS=tcp://h:8786  a running `dask scheduler` (dask's own config key
                                         `scheduler-address`, so ~/.config/dask works too)
    GANPIPE_DASK_SCHEDULER_FILE=path     a running scheduler, by its --scheduler-file
    GANPIPE_EXECUTOR=slurm               dask_jobqueue.SLURMCluster from dask's `jobqueue.slurm` config
    GANPIPE_EXECUTOR=dask                a Dask LocalCluster of one-thread workers inside the stage
                                         (unless a scheduler is set as above)
    GANPIPE_EXECUTOR=pool                the stage's own pool, even where a scheduler is configured

A run's numbers depend on its seed alone, whatever worker runs it: each task sets its own seed
(the training code seeds every RNG at the start of a run), one torch thread and ganpipe's
allocator settings (`runtime.prepare_run_process`), because Dask reuses a worker process for task
after task. A worker never opens the MLflow store: a run's calls come back with its result and
the stage logs them, so a cluster needs no tracking server and no route to this machine's store.

`dask worker --preload ganpipe.running.cluster` sets the worker up before torch loads (see `dask_setup`).
"""

from __future__ import annotations

import os
import tempfile
import uuid
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator

from ganpipe.running.files import InputError
from ganpipe.running.progress import Progress, Run, Throttle
from ganpipe.running.runtime import forkserver_context, prepare_run_process, share_cores_fairly

EXECUTOR_ENV = "GANPIPE_EXECUTOR"
SCHEDULER_FILE_ENV = "GANPIPE_DASK_SCHEDULER_FILE"
EXECUTORS = ("pool", "dask", "slurm")


class ClusterError(InputError):
    """A cluster that cannot be used, or a run that could not finish on it; the message names
    the setting or the run (the CLI prints it as one line and exits non-zero)."""


# --- where the runs go -------------------------------------------------------------------------


def executor_kind(environ=os.environ) -> str:
    """'pool', 'local', 'address', 'file' or 'slurm', from the environment and dask's config."""
    import dask.config

    kind = environ.get(EXECUTOR_ENV)
    if kind is not None and kind not in EXECUTORS:
        raise ClusterError(f"{EXECUTOR_ENV}={kind!r} is not allowed: use one of {', '.join(EXECUTORS)}, "
                           f"or leave it unset")
    if kind in ("pool", "slurm"):
        return kind
    if environ.get(SCHEDULER_FILE_ENV):
        path = environ[SCHEDULER_FILE_ENV]
        if not Path(path).is_file():
            raise ClusterError(f"{SCHEDULER_FILE_ENV}={path}: no such file (start `dask scheduler --scheduler-file "
                               f"{path}` first, or unset it to train on this machine)")
        return "file"
    if dask.config.get("scheduler-address", None):
        return "address"
    return "local" if kind == "dask" else "pool"


def _forkserver_with_torch() -> None:
    """Local workers fork from a server that imported torch and the training code once, as the
    pool's do (ganpipe.running.pool), started from ganpipe's settings (runtime.forkserver_context)."""
    import dask.config
    from distributed.utils import get_mp_context

    from ganpipe.running.pool import PRELOAD

    dask.config.set({"distributed.worker.multiprocessing-method": "forkserver"})
    get_mp_context()  # sets distributed's own preload list; ours replaces it as the server starts
    forkserver_context(["distributed", "ganpipe.running.cluster", *PRELOAD])


@contextmanager
def connect(n_runs: int, local_workers: int) -> Iterator[tuple[object, str]]:
    """A Dask client for the runs, and the kind of cluster; a cluster started here is closed on exit
    (also on Ctrl-C or an error: its worker processes end with it)."""
    import dask.config
    from distributed import Client, LocalCluster

    kind = executor_kind()
    cluster = None
    try:
        if kind == "local":
            _forkserver_with_torch()
            # memory_limit=0: Dask would otherwise pause or restart a worker past a share of the
            # machine's memory it guesses per worker; a run needs what it needs
            cluster = LocalCluster(n_workers=local_workers, threads_per_worker=1, processes=True,
                                   dashboard_address=":0" if _has_dashboard() else None, memory_limit=0,
                                   host="127.0.0.1")
            client = Client(cluster)
        elif kind == "slurm":
            from dask_jobqueue import SLURMCluster

            cluster = SLURMCluster()  # queue, account, cores, memory, walltime: dask's jobqueue.slurm config
            cluster.scale(n_runs)
            client = Client(cluster)
        else:
            path, address = os.environ.get(SCHEDULER_FILE_ENV), dask.config.get("scheduler-address", None)
            where = f"{SCHEDULER_FILE_ENV}={path}" if kind == "file" else f"DASK_SCHEDULER_ADDRESS={address}"
            try:
                client = Client(scheduler_file=path, timeout="20s") if kind == "file" else Client(address, timeout="20s")
            except OSError as exc:
                raise ClusterError(f"cannot reach the Dask scheduler of {where}: "
                                   f"{str(exc).splitlines()[0][:200]}") from None
        try:
            if kind in ("file", "address") and not client.scheduler_info()["workers"]:
                try:
                    client.wait_for_workers(1, timeout=60)
                except TimeoutError:
                    raise ClusterError("the Dask scheduler has no worker after 60 s: start `dask worker --nthreads 1 "
                                       "--preload ganpipe.running.cluster --scheduler-file FILE` (or ADDRESS)") from None
            yield client, kind
        finally:
            client.close()
    finally:
        if cluster is not None:
            cluster.close()


def _has_dashboard() -> bool:
    try:
        import bokeh  # noqa: F401  (Dask's dashboard needs it)
    except ImportError:
        return False
    return True


def dashboard_link(client) -> str | None:
    """The dashboard's URL when the scheduler serves one."""
    if "dashboard" not in client.scheduler_info().get("services", {}):
        return None
    return client.dashboard_link


# --- inside a worker ---------------------------------------------------------------------------


def dask_setup(worker=None) -> None:
    """`dask worker --preload ganpipe.running.cluster` calls this in each worker process before its first
    task: ganpipe's OpenMP spin count, while torch is not loaded yet (libgomp reads it once, at
    torch import; the worker inherits it from the stage when the stage starts the cluster)."""
    share_cores_fairly()


class Reporter:
    """A run's `should_stop`: reports its step to the stage about once a second (a Dask event), and
    stops it (a checkpoint is kept) when the stage sets its stop event (Ctrl-C on the stage)."""

    def __init__(self, topic: str, label: str, total: int, stop_event: str | None):
        from distributed import Event, get_worker

        self.worker = get_worker()
        self.topic, self.label, self.total = topic, label, total
        self.stop = Event(stop_event) if stop_event else None
        self.throttle = Throttle(total)

    def __call__(self, step: int) -> bool:
        if not self.throttle.due(step):
            return False
        self.worker.log_event(self.topic, {"run": self.label, "step": step, "total": self.total})
        return self.stop is not None and self.stop.is_set()


def run_task(fn: Callable, label: str, total: int, topic: str, stop_event: str | None, *args):
    """The function Dask runs for one run: set the worker up, then `fn(*args, should_stop=...)`."""
    settings = prepare_run_process()
    return {**fn(*args, should_stop=Reporter(topic, label, total, stop_event)), "worker": settings}


# --- outputs on a worker that shares no filesystem with the stage ------------------------------


def shared_marker(out: Path) -> tuple[Path, str]:
    """A file the stage writes into its output folder: a worker that can read it shares the folder."""
    token = uuid.uuid4().hex
    marker = out / f".ganpipe-shared-{token}"
    out.mkdir(parents=True, exist_ok=True)
    marker.write_text(token)
    return marker, token


def sees_shared(marker: Path, token: str) -> bool:
    try:
        return marker.read_text() == token
    except OSError:
        return False


def folder_files(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def worker_scratch(*parts: str) -> Path:
    """A folder on the worker's own disk, the same for a retry on the same machine (its checkpoint)."""
    path = Path(tempfile.gettempdir(), "ganpipe-worker", *parts)
    path.mkdir(parents=True, exist_ok=True)
    return path


# --- running them ------------------------------------------------------------------------------


def run_all(client, kind: str, runs: list[Run], title: str, progress: Progress | None = None,
            on_done=None) -> list[dict]:
    """Every run on the cluster, results in the order given; `on_done(i, result)` as each comes back. A run whose worker dies is run again
    (from its checkpoint) by the scheduler, up to its `allowed-failures`; past that, the stage fails
    with one line naming the run. Ctrl-C stops the runs (checkpoints kept) and cancels them."""
    from distributed import Event, wait
    from distributed.client import FutureCancelledError
    from distributed.scheduler import KilledWorker

    token = uuid.uuid4().hex[:8]
    topic, stop_name = f"ganpipe-progress-{token}", f"ganpipe-stop-{token}"
    # stopping a running task needs the task's help on a scheduler that outlives this stage; a
    # LocalCluster's workers end with it
    stop = Event(stop_name, client=client) if kind != "local" else None
    progress = progress or Progress(title, len(runs))

    def on_event(event) -> None:  # (time, {"run", "step", "total", "worker"}): Dask adds the worker
        progress.step(event[1]["run"], event[1]["step"], event[1]["total"])

    client.subscribe_topic(topic, on_event)
    futures, index = {}, {}
    for i, run in enumerate(runs):
        key = f"{run.label.replace(' ', '-')}-{token}"
        futures[client.submit(run_task, run.fn, run.label, run.total, topic, stop_name if stop else None, *run.args,
                              key=key, pure=False)] = run.label
        index[run.label] = i
    pending = set(futures)
    try:
        while pending:
            try:
                done, pending = wait(pending, timeout=2, return_when="FIRST_COMPLETED")
            except TimeoutError:
                done = set()
            for future in done:
                if future.status == "error":
                    _raise_for(future, futures[future], KilledWorker)
                progress.finished(futures[future])
                if on_done is not None:
                    on_done(index[futures[future]], future.result())
            progress.tick()
        return [f.result() for f in futures]
    except BaseException as exc:  # Ctrl-C, or a run that failed: stop the others, on any cluster
        if stop is not None:
            stop.set()
        client.cancel(list(futures))
        if isinstance(exc, (KeyboardInterrupt, FutureCancelledError)):
            raise KeyboardInterrupt from None
        raise
    finally:
        client.unsubscribe_topic(topic)
        progress.close()


def _raise_for(future, label: str, killed_worker) -> None:
    exc = future.exception()
    if isinstance(exc, killed_worker):
        raise ClusterError(f"run {label}: its worker died more often than the scheduler retries a task "
                           f"(distributed.scheduler.allowed-failures); see the workers' logs") from None
    future.result()  # the run's own error (a diverged run, a bad input), as the run raised it
