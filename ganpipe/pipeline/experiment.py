"""Stage experiment@NAME: the training runs that a finding needs (strong discriminator, clip sweep,
output heads, the upsample generator), configured in params.yaml under findings.experiments.NAME.

Each experiment starts from the model's built-in defaults plus its own overrides, not from the
main gan/wgan groups, so `dvc exp run -S wgan.clip=0.1` changes the main WGAN but not the sweeps.
Its runs (ganpipe.study.conditions: the experiment's setting at every seed, its condition map at the
map seeds) train side by side, one process and one thread each: in the stage's own pool
(ganpipe.running.pool) by default, on Dask (ganpipe.running.cluster) when a scheduler or SLURM is configured
outside params.yaml. A run's numbers depend on its seed alone, never on how many runs share the
machine (torch's thread count changes the float rounding), and a third of a small GAN's step is
single-threaded overhead that a second thread does not shorten, so two one-thread runs on two
cores do more work than one two-thread run.
Outputs: stages/experiments/NAME/<condition>/seed_<seed>/ (a training stage's layout) and
experiment.json (the runs, their times and the stage's wall time).
"""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

from ganpipe.params import Params, ParamsError
from ganpipe.pipeline import MNIST
from ganpipe.running import cluster, pool
from ganpipe.running.files import write_bytes, write_json
from ganpipe.running.progress import Progress, Run
from ganpipe.running.tracking import RunRecord
from ganpipe.study import conditions
from ganpipe.training import cost
from ganpipe.training.run import train


def _staging(folder: Path) -> Path:
    """Where a run writes until it has finished: its folder appears whole or not at all, and a run
    retried after a lost worker continues there (from its checkpoint) or starts it over."""
    return folder.parent / f".{folder.name}.partial"


def _publish(staging: Path, folder: Path) -> None:
    shutil.rmtree(folder, ignore_errors=True)
    os.replace(staging, folder)


def _drop_partial_writes(folder: Path) -> None:
    """A worker killed mid-write leaves the temporary file of an atomic write (ganpipe.running.files) behind."""
    for tmp in folder.rglob(".*.tmp"):
        tmp.unlink(missing_ok=True)


def _run_job(job: conditions.Job, params: Params, data_path: Path, resume: str, run_id: str,
             shared: tuple[Path, str] | None = None, data: bytes | None = None, should_stop=None) -> dict:
    """One run on a worker: the experiment's config at one condition and one seed.

    Outputs go straight to the stage's folder when this worker shares its filesystem (`shared`: a
    marker file the stage wrote, and its content), else to the worker's own disk, and come back
    with the result for the stage to write (`files`). Its MLflow calls come back too (`mlflow`),
    for the stage to log onto `run_id`, the run it opened for this one: the worker never opens
    the store."""
    local = shared is None or cluster.sees_shared(*shared)
    folder = job.folder if local else cluster.worker_scratch(job.experiment, job.condition, f"seed_{job.seed}")
    checkpoints = (job.folder.parents[2] if local else cluster.worker_scratch()) / ".checkpoints" / job.experiment / job.condition
    if not data_path.is_file() and data is not None:
        data_path = cluster.worker_scratch(job.experiment) / data_path.name
        write_bytes(data_path, data)
    staging = _staging(folder)
    _drop_partial_writes(staging)
    calls = RunRecord(run_id, staging)
    timing = train(job.cfg.model, job.cfg, params.model_copy(update={"seed": job.seed}), staging,
                   f"experiment-{job.experiment}", data_path, resume, should_stop=should_stop, record=calls,
                   progress=False, checkpoints=checkpoints)
    record = {"condition": job.condition, "seed": job.seed, **timing, "mlflow": calls.dump()}
    if local:
        _publish(staging, folder)
        return record
    files = cluster.folder_files(staging)
    shutil.rmtree(staging)
    return {**record, "files": files}


def _write_returned(record: dict, folder: Path) -> None:
    """A run from a worker without the shared filesystem: its files, written here, then published whole."""
    staging = _staging(folder)
    shutil.rmtree(staging, ignore_errors=True)
    for rel, data in record.pop("files").items():
        write_bytes(staging / rel, data)
    _publish(staging, folder)


def work(jobs: list[conditions.Job]) -> list[float]:
    """Each job's training FLOPs: its step's count (which depends on the architecture, not on how
    long or how watched) times its steps."""
    per_step: dict[str, int] = {}
    for job in jobs:
        key = job.cfg.model_dump_json(exclude={"steps", *conditions.LOGGING})
        if key not in per_step:
            per_step[key] = cost.step_flops(job.cfg.model, job.cfg)
    return [float(per_step[job.cfg.model_dump_json(exclude={"steps", *conditions.LOGGING})] * job.cfg.steps)
            for job in jobs]


def longest_first(jobs: list[conditions.Job]) -> list[int]:
    """The jobs' indices, most training FLOPs first. Workers take runs in the order given, so the
    longest run listed last would start last and run alone on one core while the others idle."""
    flops = work(jobs)
    return sorted(range(len(jobs)), key=lambda i: -flops[i])


def run_experiment(name: str, params: Params, out: Path, data_path: Path = MNIST, resume: str = "auto",
                   workers: int | None = None, progress: Progress | None = None) -> dict:
    from ganpipe.running.tracking import stage_run

    experiments = params.findings.experiments
    if name not in experiments:
        raise ParamsError(f"findings.experiments has no experiment {name!r}; defined: {', '.join(sorted(experiments)) or 'none'}")
    exp = experiments[name]
    f = params.findings
    # absolute paths and store: a worker of a real cluster runs in another folder, maybe on another machine
    out, data_path = out.resolve(), data_path.resolve()
    jobs = conditions.jobs(name, exp, f.seeds, f.map_seeds, out)
    workers = workers or pool.workers_for(len(jobs))
    kind = cluster.executor_kind()
    if kind == "pool":
        pool.start_server()
    with stage_run(f"experiment-{name}", params, extra=exp) as run:
        began = time.perf_counter()
        run_ids = [run.open_child(f"{name} {job.condition} seed {job.seed}", params.model_copy(update={"seed": job.seed}),
                                  job.cfg, {"condition": job.condition, "findings_seed": str(job.seed)})
                   for job in jobs]
        todo = [Run(f"{name} {job.condition} seed {job.seed}", job.cfg.steps, _run_job,
                    (job, params, data_path, resume, run_id), flops)
                for job, run_id, flops in zip(jobs, run_ids, work(jobs))]
        order = longest_first(jobs)  # the results come back in this order, then in the jobs' own
        try:
            if kind == "pool":
                runs = pool.run_all([todo[i] for i in order], workers, f"experiment {name}", progress)
            else:
                runs, workers = _run_on_dask(name, [jobs[i] for i in order], [todo[i] for i in order], out, workers,
                                             data_path, progress)
            runs = [run for _, run in sorted(zip(order, runs), key=lambda pair: pair[0])]
        except BaseException:  # a run failed, or Ctrl-C: no run of this stage stays open in the store
            for run_id in run_ids:
                run.end_child(run_id, "FAILED")
            raise
        for job, result in zip(jobs, runs):
            run.replay(result.pop("mlflow"), job.folder)
        wall = time.perf_counter() - began
        summary = {"experiment": name, "executor": kind, "workers": workers, "wall_seconds": round(wall, 3),
                   "train_seconds": round(sum(r["seconds"] for r in runs), 3), "runs": runs}
        write_json(out / "experiment.json", summary)
        run.log_metrics({"wall_seconds": wall, "runs": len(runs), "workers": workers}, 0)
    return summary


def _run_on_dask(name: str, jobs: list[conditions.Job], todo: list[Run], out: Path, workers: int,
                 data_path: Path, progress: Progress | None) -> tuple[list[dict], int]:
    """The runs on a Dask cluster; a worker that does not see the stage's folder (another machine)
    gets the data with its task and returns its files, written here."""
    marker, token = cluster.shared_marker(out)
    try:
        with cluster.connect(len(todo), workers) as (client, kind):
            link = cluster.dashboard_link(client)
            if link:
                print(f"experiment {name}: Dask dashboard at {link}", flush=True)
            # on every worker: scattered data is not recomputed, so a copy on one worker alone
            # would fail every run when that worker dies
            data = client.scatter(data_path.read_bytes(), hash=False, broadcast=True)
            workers = len(client.scheduler_info(n_workers=-1)["workers"])
            todo = [Run(r.label, r.total, r.fn, (*r.args, (marker, token), data), r.work) for r in todo]
            runs = cluster.run_all(client, kind, todo, f"experiment {name}", progress)
    finally:
        marker.unlink(missing_ok=True)
    for job, record in zip(jobs, runs):
        if "files" in record:
            _write_returned(record, job.folder)
    return runs, workers
