"""Stage experiment@NAME: the training runs that a finding needs (strong discriminator, clip sweep,
output heads, the upsample generator), configured in findings.yaml under findings.experiments.NAME.

Each experiment starts from the model's built-in defaults plus its own overrides, not from the
main gan/wgan groups, so `dvc exp run -S wgan.clip=0.1` changes the main WGAN but not the sweeps.
Its runs (ganpipe.study.conditions: the experiment's setting at every seed, its condition map at the
map seeds) train side by side, one process and one thread each: in the stage's own pool
(ganpipe.running.pool) by default, on Dask (ganpipe.running.cluster) when a scheduler or SLURM is configured
outside params.yaml. A run's numbers depend on its seed alone, never on how many runs share the
machine (torch's thread count changes the float rounding), and a third of a small GAN's step is
single-threaded overhead that a second thread does not shorten, so two one-thread runs on two
cores do more work than one two-thread run.
A run trained once is not trained again: the run cache (ganpipe.running.runcache) keeps each run
by everything its numbers depend on, and the stage copies a cached run into place and trains only
the others, so one more map cell or seed trains just its own runs.
Outputs: stages/experiments/NAME/<condition>/seed_<seed>/ (a training stage's layout) and
experiment.json (the runs, their times, which were restored from the cache, and the stage's wall time).
"""

from __future__ import annotations

import os
import shutil
import sys
import time
from pathlib import Path

from ganpipe.params import Params, ParamsError
from ganpipe.pipeline import MNIST
from ganpipe.running import cluster, pool, runcache
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


def _write_files(files: dict[str, bytes], folder: Path) -> None:
    """A run's files written beside `folder`, then published whole."""
    staging = _staging(folder)
    shutil.rmtree(staging, ignore_errors=True)
    for rel, data in files.items():
        write_bytes(staging / rel, data)
    _publish(staging, folder)


def _write_returned(record: dict, folder: Path) -> None:
    """A run from a worker without the shared filesystem: its files, written here."""
    _write_files(record.pop("files"), folder)


class Cached:
    """The run cache as one experiment stage uses it: each job's key, the runs restored into place
    before the others train, and each trained run stored as soon as it is back."""

    def __init__(self, name: str, jobs: list[conditions.Job], params: Params, data_path: Path, path: Path | None):
        from ganpipe.running.runtime import pick_device
        from ganpipe.running.tracking import git_changes, git_commit, repo_root

        self.name, self.path = name, path
        self.cache = runcache.RunCache(path) if path is not None else None
        if self.cache is None:
            return
        machine = runcache.Machine.here(data_path)
        device = pick_device(params.device).type
        self.identities = [runcache.run_identity(job.cfg, job.seed, params.evaluate.n_samples, device) for job in jobs]
        self.keys = [runcache.key(identity, machine) for identity in self.identities]
        root = repo_root()
        self.commit, self.changed = git_commit(root), bool(git_changes(root))

    def restore(self, i: int, job: conditions.Job) -> dict | None:
        """Job `i` copied into place from the cache, and its result record (its original run's,
        marked `restored_from`); None if it must train."""
        if self.cache is None:
            return None
        try:
            found = self.cache.get(self.keys[i])
        except runcache.CacheError as exc:
            print(f"experiment {self.name}: {exc}; training it again", file=sys.stderr, flush=True)
            return None
        if found is None:
            return None
        meta, files = found
        _write_files(files, job.folder)
        original = meta["record"]
        return {**original, "mlflow": {**original["mlflow"]},
                "restored_from": {"mlflow_run_id": original["mlflow"]["run_id"], "commit": meta["commit"],
                                  "tree_changed": meta["tree_changed"], "stored": meta["stored"],
                                  "key": self.keys[i]}}

    def store(self, i: int, job: conditions.Job, record: dict) -> None:
        if self.cache is None:
            return
        meta = {"experiment": self.name, "condition": job.condition, "seed": job.seed,
                "label": f"{self.name} {job.condition} seed {job.seed}", "identity": runcache.digest(self.identities[i]),
                "run": self.identities[i], "commit": self.commit, "tree_changed": self.changed,
                "record": {k: v for k, v in record.items() if k != "files"}}
        try:
            self.cache.put(self.keys[i], job.folder, meta)
        except Exception as exc:  # a full or read-only disk costs the cache an entry, never the run
            print(f"experiment {self.name}: run {meta['label']} not stored in the run cache {self.path}: "
                  f"{type(exc).__name__}: {str(exc).splitlines()[0][:200] if str(exc) else ''}", file=sys.stderr, flush=True)

    def close(self) -> None:
        if self.cache is not None:
            self.cache.close()


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
                   workers: int | None = None, progress: Progress | None = None, cache: Path | None = None) -> dict:
    """Every run of experiment `name` into `out`: restored from the run cache at `cache` (default:
    runcache.folder(), None when it is off) where it holds them, trained where it does not."""
    from ganpipe.running.tracking import stage_run

    experiments = params.findings.experiments
    if name not in experiments:
        raise ParamsError(f"findings.experiments has no experiment {name!r}; defined: {', '.join(sorted(experiments)) or 'none'}")
    exp = experiments[name]
    f = params.findings
    # absolute paths and store: a worker of a real cluster runs in another folder, maybe on another machine
    out, data_path = out.resolve(), data_path.resolve()
    jobs = conditions.jobs(name, exp, f.seeds, f.map_seeds, out)
    kind = cluster.executor_kind()  # a bad executor setting is one line before any work
    cached = Cached(name, jobs, params, data_path, cache if cache is not None else runcache.folder())
    restored = {i: record for i, job in enumerate(jobs) if (record := cached.restore(i, job)) is not None}
    train = [i for i in range(len(jobs)) if i not in restored]
    print(f"experiment {name}: {len(jobs)} runs, {len(restored)} restored from the run cache"
          f"{f' ({cached.path})' if cached.path else ' (off)'}, {len(train)} to train", file=sys.stderr, flush=True)
    workers = workers or pool.workers_for(len(train))
    if kind == "pool" and train:
        pool.start_server()
    progress = progress or Progress(f"experiment {name}", len(jobs))
    progress.from_cache(len(restored))
    with stage_run(f"experiment-{name}", params, extra=exp) as run:
        began = time.perf_counter()
        run_ids = [run.open_child(f"{name} {job.condition} seed {job.seed}", params.model_copy(update={"seed": job.seed}),
                                  job.cfg, {"condition": job.condition, "findings_seed": str(job.seed),
                                            **_restored_tags(restored.get(i))})
                   for i, job in enumerate(jobs)]
        flops = work(jobs)
        todo = [Run(f"{name} {jobs[i].condition} seed {jobs[i].seed}", jobs[i].cfg.steps, _run_job,
                    (jobs[i], params, data_path, resume, run_ids[i]), flops[i]) for i in train]
        order = longest_first([jobs[i] for i in train])  # the results come back in this order
        given = [train[k] for k in order]  # the jobs' indices, in the order the executor is given them

        def on_done(k: int, result: dict) -> None:  # a run is back: its files in place, into the cache
            i = given[k]
            if "files" in result:
                _write_returned(result, jobs[i].folder)
            cached.store(i, jobs[i], result)

        try:
            trained = []
            if kind == "pool" and given:
                trained = pool.run_all([todo[k] for k in order], workers, f"experiment {name}", progress, on_done)
            elif given:
                trained, workers = _run_on_dask(name, [todo[k] for k in order], out, workers, data_path, progress,
                                                on_done)
            else:
                progress.close()
        except BaseException:  # a run failed, or Ctrl-C: no run of this stage stays open in the store
            for run_id in run_ids:
                run.end_child(run_id, "FAILED")
            raise
        finally:
            cached.close()
        runs = [None] * len(jobs)
        for i, result in zip(given, trained):
            runs[i] = result
        for i, result in restored.items():
            result["mlflow"]["run_id"] = run_ids[i]  # the original run's calls, onto this stage's run
            runs[i] = result
        for job, result in zip(jobs, runs):
            run.replay(result.pop("mlflow"), job.folder)
        wall = time.perf_counter() - began
        summary = {"experiment": name, "executor": kind, "workers": workers, "wall_seconds": round(wall, 3),
                   "train_seconds": round(sum(r["seconds"] for i, r in enumerate(runs) if i not in restored), 3),
                   "restored": len(restored), "trained": len(given), "runs": runs}
        write_json(out / "experiment.json", summary)
        run.log_metrics({"wall_seconds": wall, "runs": len(runs), "workers": workers, "restored_runs": len(restored)}, 0)
    return summary


def named_runs(params: Params) -> set[str]:
    """The identity digest of every run that findings.yaml's experiments name (what the cache keeps on prune)."""
    from ganpipe.running.runtime import pick_device

    device, f = pick_device(params.device).type, params.findings
    return {runcache.digest(runcache.run_identity(job.cfg, job.seed, params.evaluate.n_samples, device))
            for name, exp in f.experiments.items()
            for job in conditions.jobs(name, exp, f.seeds, f.map_seeds, Path("."))}


def _restored_tags(record: dict | None) -> dict[str, str]:
    """What a restored run's MLflow run says of its origin."""
    if record is None:
        return {}
    origin = record["restored_from"]
    return {"ganpipe.restored": "true", "ganpipe.restored_from_run": origin["mlflow_run_id"],
            "ganpipe.first_trained_at": origin["commit"] + (" (changed tree)" if origin["tree_changed"] else "")}


def _run_on_dask(name: str, todo: list[Run], out: Path, workers: int, data_path: Path, progress: Progress | None,
                 on_done) -> tuple[list[dict], int]:
    """The runs on a Dask cluster; a worker that does not see the stage's folder (another machine)
    gets the data with its task and returns its files, written here."""
    marker, token = cluster.shared_marker(out)
    try:
        with cluster.connect(len(todo), workers) as (client, kind):
            link = cluster.dashboard_link(client)
            if link:
                print(f"experiment {name}: Dask dashboard at {link}", flush=True)
            # the data go with each run's task (a few MB): a scattered copy is lost with the worker
            # that held it, and the scheduler then forgets every run that needs it
            data = data_path.read_bytes()
            workers = len(client.scheduler_info(n_workers=-1)["workers"])
            todo = [Run(r.label, r.total, r.fn, (*r.args, (marker, token), data), r.work) for r in todo]
            runs = cluster.run_all(client, kind, todo, f"experiment {name}", progress, on_done)
    finally:
        marker.unlink(missing_ok=True)
    return runs, workers
