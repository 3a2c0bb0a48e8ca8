"""Where the findings' runs go (ganpipe/running/pool.py, ganpipe/running/cluster.py, pipeline/experiment.py), on this
machine with real processes: the stage's own pool (the default), Dask's LocalCluster, a `dask
scheduler` with two `dask worker --nthreads 1` on 127.0.0.1, a worker killed mid-run under each,
a run past the retry limit, Ctrl-C, and the errors a user meets. Every run's files are compared
byte for byte with the default's (train.json without its clock and run id)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import psutil
import pytest
import yaml

from conftest import ROOT, cli, deep_update, tiny_params
from ganpipe.params import load_params
from ganpipe.running import cluster, pool
from ganpipe.running.progress import Progress

# three runs (two seeds, one map cell), long enough to be killed mid-run between checkpoints
LOOP = {"steps": 120, "batch_size": 16, "log_every": 20, "grid_every": 40, "checkpoint_every": 20, "snapshot_size": 64}
EXPERIMENT = {"model": "gan", "generator": "fc", **LOOP, "map": {"output": ["tanh", "sigmoid"]}}
CLOCK = ("seconds", "seconds_per_step", "mlflow_run_id", "resumed_from", "steps_run")
UNSET = (cluster.EXECUTOR_ENV, cluster.SCHEDULER_FILE_ENV, "DASK_SCHEDULER_ADDRESS")


def write_params(folder: Path) -> Path:
    raw = deep_update(tiny_params(folder), {"evaluate": {"n_samples": 64}, "findings": {"seeds": [0, 1], "map_seeds": [0]}})
    raw["findings"]["experiments"] = {"e": EXPERIMENT}
    (folder / "params.yaml").write_text(yaml.safe_dump(raw))
    return folder / "params.yaml"


def outputs(out: Path) -> dict[str, bytes]:
    """Every file of every run, train.json without what differs between two identical runs."""
    files = {}
    for path in sorted(out.rglob("*")):
        rel = str(path.relative_to(out))
        if not path.is_file() or rel == "experiment.json":
            continue
        data = path.read_bytes()
        if path.name == "train.json":
            data = json.dumps({k: v for k, v in json.loads(data).items() if k not in CLOCK}, sort_keys=True).encode()
        files[rel] = data
    return files


def same_runs(a: Path, b: Path) -> None:
    fa, fb = outputs(a), outputs(b)
    assert sorted(fa) == sorted(fb)
    assert len([f for f in fa if f.endswith("generator.pt")]) == 3
    for rel in fa:
        assert fa[rel] == fb[rel], rel


def start_cluster(folder: Path, n_workers: int, env: dict | None = None) -> tuple[Path, list[subprocess.Popen]]:
    """A real `dask scheduler` and `n_workers` one-thread `dask worker`s on 127.0.0.1, as the README
    starts them; the workers run in another folder than the stage, as on another machine."""
    folder.mkdir(parents=True, exist_ok=True)
    sched_file = folder / "scheduler.json"
    full_env = {**os.environ, "PYTHONPATH": str(ROOT), **(env or {})}
    for name in UNSET:
        full_env.pop(name, None)
    dask = [sys.executable, "-m", "distributed.cli.dask_scheduler"]
    logs = open(folder / "cluster.log", "w")
    procs = [subprocess.Popen([*dask, "--host", "127.0.0.1", "--port", "0", "--no-dashboard",
                               "--scheduler-file", str(sched_file)], env=full_env, cwd=folder, stdout=logs, stderr=logs)]
    for _ in range(n_workers):
        procs.append(subprocess.Popen([sys.executable, "-m", "distributed.cli.dask_worker", "--scheduler-file",
                                       str(sched_file), "--nthreads", "1", "--preload", "ganpipe.running.cluster",
                                       "--no-dashboard", "--memory-limit", "0", "--host", "127.0.0.1"],
                                      env=full_env, cwd=folder, stdout=logs, stderr=logs))
    from distributed import Client

    deadline = time.time() + 120
    while not sched_file.exists() and time.time() < deadline:
        time.sleep(0.2)
    with Client(scheduler_file=str(sched_file), timeout="60s") as client:
        client.wait_for_workers(n_workers, timeout=120)
    return sched_file, procs


def stop_cluster(procs: list[subprocess.Popen]) -> None:
    for proc in reversed(procs):
        proc.terminate()
    for proc in procs:
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    """A tiny experiment's params and data, and its runs under the default (the reference), with
    the progress the stage received."""
    from ganpipe.pipeline.experiment import run_experiment
    from ganpipe.pipeline.prepare import prepare_data

    folder = tmp_path_factory.mktemp("project")
    params = write_params(folder)
    prepare_data(load_params(params), folder / "prepare")
    with pytest.MonkeyPatch.context() as mp:
        for name in UNSET:
            mp.delenv(name, raising=False)
        watched = Watched("experiment e", 3)
        summary = run_experiment("e", load_params(params), folder / "default", folder / "prepare" / "mnist.npz",
                                 progress=watched)
    return folder, params, summary, watched


@pytest.fixture(scope="module")
def scheduler(tmp_path_factory):
    sched_file, procs = start_cluster(tmp_path_factory.mktemp("cluster"), 2)
    yield sched_file
    stop_cluster(procs)


class Watched(Progress):
    """The stage's progress, with every report it received kept; `on_step(run, step)` is called
    from the stage as each report arrives (a test kills a worker from there)."""

    def __init__(self, *args, on_step=None, **kwargs):
        super().__init__(*args, live=False, **kwargs)
        self.events, self.on_step = [], on_step

    def step(self, run, step, total):
        self.events.append({"run": run, "step": step, "total": total})
        super().step(run, step, total)
        if self.on_step:
            self.on_step(run, step)


def saw_progress(watched: Watched) -> None:
    """The steps of runs in flight reached the stage, then every run was counted done."""
    assert any(0 < e["step"] < e["total"] for e in watched.events)
    assert watched.done == 3 and "3/3 runs done" in watched.line()


@pytest.mark.slow
def test_the_default_pool_runs_each_run_on_a_one_thread_worker_and_reports_progress(project):
    folder, _, summary, watched = project
    assert summary["executor"] == "pool" and summary["workers"] == 3
    settings = [r["worker"] for r in summary["runs"]]
    assert len({s["pid"] for s in settings}) == 3
    assert all(s["threads"] == 1 and s["kept_freed_memory"] and s["spin_count"] == "1000" for s in settings)
    saw_progress(watched)
    assert not list(folder.joinpath("default").rglob(".*"))  # no staging folder, marker or temporary file left


@pytest.mark.slow
@pytest.mark.parametrize("executor", ["pool", "dask"])
def test_the_workers_get_ganpipes_settings_whatever_forkserver_this_process_started_before(
        project, monkeypatch, tmp_path, executor):
    """A forkserver is one per process and its children inherit the environment it started in: one
    that other code started first (a measuring pool, an earlier test) from an environment without
    ganpipe's spin count must not hand the runs its own."""
    from multiprocessing import forkserver, get_context

    from ganpipe.pipeline.experiment import run_experiment

    folder, params, summary, _ = project
    monkeypatch.delenv("GOMP_SPINCOUNT", raising=False)
    forkserver._forkserver._stop()
    get_context("forkserver").set_forkserver_preload([])
    forkserver.ensure_running()  # someone else's server, from that environment
    if executor == "dask":
        monkeypatch.setenv(cluster.EXECUTOR_ENV, "dask")
    ran = run_experiment("e", load_params(params), tmp_path / "out", folder / "prepare" / "mnist.npz",
                         progress=Watched("experiment e", 3))
    assert all(r["worker"]["threads"] == 1 and r["worker"]["kept_freed_memory"] and r["worker"]["spin_count"] == "1000"
               for r in ran["runs"]), [r["worker"] for r in ran["runs"]]
    same_runs(folder / "default", tmp_path / "out")


def test_a_run_shares_the_cores_in_proportion_to_its_work():
    assert pool.niceness(8.0, 8.0) == 0
    assert pool.niceness(8.0 / pool.NICE_RATIO ** 5, 8.0) == 5  # a fifth as much work: a 1.25^5 smaller share
    assert pool.niceness(2.0, 8.0) == 6  # log(4) / log(1.25) = 6.2
    assert pool.niceness(1e-9, 8.0) == 19  # the kernel's range


@pytest.mark.slow
def test_the_pool_runs_a_shorter_run_at_a_smaller_share_and_changes_no_number(project, tmp_path):
    """The same two seeds' runs as the default's, beside a map cell of twice their steps: that one
    at niceness 0, the others at log(2) / log(1.25) = 3, and the runs both experiments share are
    byte for byte the same."""
    from ganpipe.pipeline.experiment import run_experiment

    folder, params, summary, _ = project
    raw = yaml.safe_load(params.read_text())
    raw["findings"]["experiments"]["e"]["map"] = {"steps": [LOOP["steps"] * 2]}
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(raw))
    longer = run_experiment("e", load_params(tmp_path / "params.yaml"), tmp_path / "out",
                            folder / "prepare" / "mnist.npz", progress=Watched("experiment e", 3))
    nice = {(r["condition"], r["seed"]): r["worker"]["nice"] for r in longer["runs"]}
    assert nice == {("base", 0): 3, ("base", 1): 3, ("steps=240", 0): 0}, nice
    assert {r["worker"]["nice"] for r in summary["runs"]} == {0}  # equal runs, equal shares
    base, ours = outputs(folder / "default"), outputs(tmp_path / "out")
    shared = [rel for rel in base if rel.startswith("base/")]
    assert shared and all(base[rel] == ours[rel] for rel in shared)


@pytest.mark.slow
def test_a_dask_local_cluster_gives_the_default_runs_bit_for_bit(project, monkeypatch, tmp_path):
    from ganpipe.pipeline.experiment import run_experiment

    folder, params, _, _ = project
    monkeypatch.setenv(cluster.EXECUTOR_ENV, "dask")
    watched = Watched("experiment e", 3)
    summary = run_experiment("e", load_params(params), tmp_path / "out", folder / "prepare" / "mnist.npz",
                             progress=watched)
    same_runs(folder / "default", tmp_path / "out")
    assert summary["executor"] == "local" and summary["workers"] == 3
    assert all(r["worker"]["threads"] == 1 and r["worker"]["spin_count"] == "1000" for r in summary["runs"])
    saw_progress(watched)
    assert not list((tmp_path / "out").rglob(".*"))


class PoolKiller:
    """Once a run is past its first checkpoint (step 20 of 120), SIGKILL the worker process that
    trains it: the process dies as on an out-of-memory kill, with no chance to clean up."""

    def __init__(self, times: int):
        self.times, self.killed = times, []
        self.pids: dict[str, int] = {}

    def __call__(self, run, step):
        if len(self.killed) < self.times and step > 25 and run.endswith("seed 0") and "base" in run:
            pid = self.pids.get(run)
            if pid and pid not in self.killed and psutil.pid_exists(pid):
                os.kill(pid, signal.SIGKILL)
                self.killed.append(pid)


def pool_worker_pids(killer: PoolKiller, monkeypatch) -> None:
    """The pool's reports carry each run's worker pid: hand them to the killer as they arrive."""
    drain = pool._drain

    def spying(reports, index, results, in_flight, progress):
        drain(reports, index, results, in_flight, progress)
        killer.pids.update({label: in_flight[i] for label, i in index.items() if i in in_flight})

    monkeypatch.setattr(pool, "_drain", spying)


@pytest.mark.slow
def test_a_pool_worker_killed_mid_run_changes_no_number(project, monkeypatch, tmp_path):
    from ganpipe.pipeline.experiment import run_experiment

    folder, params, _, _ = project
    killer = PoolKiller(times=1)
    pool_worker_pids(killer, monkeypatch)
    watched = Watched("experiment e", 3, on_step=killer)
    summary = run_experiment("e", load_params(params), tmp_path / "out", folder / "prepare" / "mnist.npz",
                             progress=watched)
    assert len(killer.killed) == 1, "no worker was killed"
    seed0 = next(r for r in summary["runs"] if r["condition"] == "base" and r["seed"] == 0)
    assert seed0["worker"]["pid"] != killer.killed[0] and seed0["resumed_from"] >= 20  # again, from its checkpoint
    same_runs(folder / "default", tmp_path / "out")
    assert not list((tmp_path / "out").rglob(".*"))  # no half-written file or staging folder left


@pytest.mark.slow
def test_a_pool_run_whose_worker_dies_past_the_retries_fails_with_one_line_naming_it(project, monkeypatch, tmp_path):
    folder, params, _, _ = project
    monkeypatch.setattr(pool, "RETRIES", 0)
    killer = PoolKiller(times=1)
    pool_worker_pids(killer, monkeypatch)
    from ganpipe.pipeline.experiment import run_experiment

    with pytest.raises(pool.WorkerDied) as err:
        run_experiment("e", load_params(params), tmp_path / "out", folder / "prepare" / "mnist.npz",
                       progress=Watched("experiment e", 3, on_step=killer))
    message = str(err.value)
    assert "\n" not in message and message.startswith("run e base seed 0: its worker process died 1 times"), message


@pytest.mark.slow
def test_a_two_worker_scheduler_gives_the_default_runs_bit_for_bit(project, scheduler, monkeypatch, tmp_path):
    from mlflow.tracking import MlflowClient

    from ganpipe.pipeline.experiment import run_experiment

    folder, params, _, _ = project
    monkeypatch.setenv(cluster.SCHEDULER_FILE_ENV, str(scheduler))
    watched = Watched("experiment e", 3)
    summary = run_experiment("e", load_params(params), tmp_path / "out", folder / "prepare" / "mnist.npz",
                             progress=watched)
    same_runs(folder / "default", tmp_path / "out")
    assert summary["executor"] == "file" and summary["workers"] == 2
    assert len({r["worker"]["pid"] for r in summary["runs"]}) == 2  # both workers trained
    # the workers were started with the preload: ganpipe's spin count, one thread each
    assert all(r["worker"]["spin_count"] == "1000" and r["worker"]["threads"] == 1 for r in summary["runs"])
    saw_progress(watched)
    # each run's MLflow run is nested under the stage's run
    client = MlflowClient(tracking_uri=load_params(params).mlflow.tracking_uri)
    runs = [client.get_run(r["mlflow_run_id"]) for r in summary["runs"]]
    parents = {r.data.tags["mlflow.parentRunId"] for r in runs}
    assert len(parents) == 1 and client.get_run(parents.pop()).info.run_name == "experiment-e"
    assert sorted(r.info.run_name for r in runs) == ["e base seed 0", "e base seed 1", "e output=sigmoid seed 0"]
    assert {r.info.status for r in runs} == {"FINISHED"}


def kill_a_worker_mid_run(sched_file: Path, checkpoints: Path, killed: list[int]) -> None:
    """Once a run has written a checkpoint (it is past step 20 of 120), SIGKILL a worker that holds
    a task: the process dies as on a lost machine, with no chance to clean up."""
    from distributed import Client

    with Client(scheduler_file=str(sched_file), timeout="30s") as client:
        deadline = time.time() + 120
        while time.time() < deadline:
            busy = [w for w, keys in client.processing().items() if keys]
            if busy and list(checkpoints.rglob("*.pt")):
                pid = client.run(os.getpid, workers=busy[:1])[busy[0]]
                os.kill(pid, signal.SIGKILL)
                killed.append(pid)
                return
            time.sleep(0.05)


@pytest.mark.slow
def test_a_worker_killed_mid_run_changes_no_number(project, scheduler, monkeypatch, tmp_path):
    from ganpipe.pipeline.experiment import run_experiment

    folder, params, _, _ = project
    monkeypatch.setenv(cluster.SCHEDULER_FILE_ENV, str(scheduler))
    killed: list[int] = []
    killer = threading.Thread(target=kill_a_worker_mid_run, args=(scheduler, tmp_path / ".checkpoints", killed))
    killer.start()
    summary = run_experiment("e", load_params(params), tmp_path / "out", folder / "prepare" / "mnist.npz")
    killer.join()
    assert killed, "no worker was killed"
    assert killed[0] not in {r["worker"]["pid"] for r in summary["runs"]}  # its run was trained again elsewhere
    same_runs(folder / "default", tmp_path / "out")
    assert not list((tmp_path / "out").rglob(".*"))  # no half-written file or staging folder left


@pytest.mark.slow
def test_a_run_past_the_retry_limit_fails_with_one_line_naming_it(project, monkeypatch, tmp_path):
    from ganpipe.pipeline.experiment import run_experiment

    folder, params, _, _ = project
    sched_file, procs = start_cluster(tmp_path / "cluster", 1, {"DASK_DISTRIBUTED__SCHEDULER__ALLOWED_FAILURES": "0"})
    try:
        monkeypatch.setenv(cluster.SCHEDULER_FILE_ENV, str(sched_file))
        killed: list[int] = []
        killer = threading.Thread(target=kill_a_worker_mid_run, args=(sched_file, tmp_path / ".checkpoints", killed))
        killer.start()
        with pytest.raises(cluster.ClusterError) as err:
            run_experiment("e", load_params(params), tmp_path / "out", folder / "prepare" / "mnist.npz")
        killer.join()
    finally:
        stop_cluster(procs)
    message = str(err.value)
    assert "\n" not in message and message.startswith("run e ") and "seed" in message and "allowed-failures" in message


@pytest.mark.slow
def test_a_worker_without_the_shared_folder_returns_its_files_and_the_stage_writes_them(project, tmp_path):
    """A worker that cannot read the stage's marker (another machine) trains on its own disk; the
    stage writes what it returns, and the run's folder holds the same bytes."""
    from ganpipe.pipeline.experiment import _run_job, _write_returned
    from ganpipe.running.runtime import one_thread
    from ganpipe.study import conditions

    folder, params, _, _ = project
    p = load_params(params)
    job = conditions.jobs("e", p.findings.experiments["e"], [0], [], tmp_path / "out")[0]
    with one_thread():  # as on a worker (runtime.prepare_run_process): two threads split the float sums otherwise
        record = _run_job(job, p, folder / "prepare" / "mnist.npz", "fresh", None, (tmp_path / "elsewhere", "token"))
    assert "generator.pt" in record["files"] and not job.folder.exists()
    _write_returned(record, job.folder)
    ours, reference = outputs(tmp_path / "out" / "base" / "seed_0"), outputs(folder / "default" / "base" / "seed_0")
    assert ours == reference


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])  # Ctrl-C; `kill`, a scheduler's time limit
def test_ctrl_c_stops_the_runs_and_leaves_no_process(project, tmp_path, sig):
    folder, params, _, _ = project
    env = {k: v for k, v in os.environ.items() if k not in UNSET}
    proc = subprocess.Popen([sys.executable, "-m", "ganpipe", "run-experiment", "e", "--params", str(params),
                             "--out", str(tmp_path / "out"), "--data", str(folder / "prepare" / "mnist.npz")],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)  # its own process group, as a terminal's job
    deadline = time.time() + 180
    while not list(tmp_path.joinpath(".checkpoints").rglob("*.pt")) and time.time() < deadline and proc.poll() is None:
        time.sleep(0.05)
    family = [proc.pid, *(p.pid for p in psutil.Process(proc.pid).children(recursive=True))]
    assert len(family) > 3  # the stage, its forkserver and the workers
    os.killpg(proc.pid, sig)  # Ctrl-C reaches the whole foreground group; so does `kill -TERM -PGID`
    _, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 130, stderr
    assert stderr.strip().splitlines()[-1].startswith("error: interrupted")
    deadline = time.time() + 30
    while any(psutil.pid_exists(p) and psutil.Process(p).status() != psutil.STATUS_ZOMBIE for p in family) \
            and time.time() < deadline:
        time.sleep(0.2)
    left = [p for p in family if psutil.pid_exists(p) and psutil.Process(p).status() != psutil.STATUS_ZOMBIE]
    assert not left, f"still running after {sig.name}: {left}"


WORKER_JOB = """
import json, sys
from pathlib import Path
from ganpipe.params import load_params
from ganpipe.pipeline.experiment import _run_job
from ganpipe.running.runtime import prepare_run_process
from ganpipe.study import conditions
prepare_run_process()  # one thread, as every worker: the thread count changes float sums
params = load_params({params!r})
job = conditions.jobs("e", params.findings.experiments["e"], [0], [], Path({out!r}))[0]
result = _run_job(job, params, Path({data!r}), "fresh", "a-run-id-the-stage-opened")
print(json.dumps({{"mlflow": sorted(m for m in sys.modules if m.split(".")[0] in ("mlflow", "sqlalchemy", "alembic")),
                  "metrics": len(result["mlflow"]["metrics"]), "artifacts": result["mlflow"]["artifacts"]}}))
"""


def test_a_run_in_a_worker_never_opens_the_store_and_changes_no_byte(project, tmp_path):
    """What a worker does, in a fresh interpreter: train one run and hand its MLflow calls back.
    It imports no MLflow (nor its SQL store), and its files are the same bytes as the pool's run."""
    folder, params, _, _ = project
    script = WORKER_JOB.format(params=str(params), out=str(tmp_path / "out"), data=str(folder / "prepare" / "mnist.npz"))
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=tmp_path, timeout=300,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert done.returncode == 0, done.stderr[-2000:]
    worker = json.loads(done.stdout.strip().splitlines()[-1])
    assert worker["mlflow"] == [], f"a worker imported {worker['mlflow'][:5]}"
    assert worker["metrics"] > 0 and ["grid.png", None] in worker["artifacts"]
    assert not any(m.split(".")[0] == "mlflow" for m in pool.PRELOAD)
    alone, pooled = outputs(tmp_path / "out" / "base" / "seed_0"), outputs(folder / "default" / "base" / "seed_0")
    assert sorted(alone) == sorted(pooled)
    for rel in alone:
        assert alone[rel] == pooled[rel], rel


def test_the_stage_logs_each_worker_run_onto_a_nested_run(project):
    """The runs' calls reach the store through the stage: one run per seed and condition under the
    stage's run, ended FINISHED, with its losses over the steps and its sample grids."""
    from mlflow.tracking import MlflowClient

    _, params, summary, _ = project
    p = load_params(params)
    client = MlflowClient(tracking_uri=p.mlflow.tracking_uri)
    children = [client.get_run(r["mlflow_run_id"]) for r in summary["runs"]]
    parents = {run.data.tags["mlflow.parentRunId"] for run in children}
    assert len(parents) == 1 and client.get_run(parents.pop()).data.tags["mlflow.runName"] == "experiment-e"
    for run in children:
        assert run.info.status == "FINISHED"
        assert run.data.tags["stage"] == "experiment-e" and run.data.params["experiment.generator"] == "fc"
        steps = [m.step for m in client.get_metric_history(run.info.run_id, "d_loss")]
        assert steps == sorted(steps) and len(steps) == LOOP["steps"] // LOOP["log_every"]
        artifacts = {a.path for a in client.list_artifacts(run.info.run_id)}
        assert {"grid.png", "grids"} <= artifacts


def test_an_unknown_executor_is_one_line(tmp_path, params_file):
    params = params_file({"findings": {"experiments": {"e": EXPERIMENT}}})
    result = cli("run-experiment", "e", "--params", str(params), env={cluster.EXECUTOR_ENV: "kubernetes"},
                 cwd=tmp_path)
    assert result.returncode != 0
    assert result.stderr.strip().splitlines() == [
        "error: GANPIPE_EXECUTOR='kubernetes' is not allowed: use one of pool, dask, slurm, or leave it unset"]


def test_a_missing_scheduler_file_is_one_line(tmp_path, params_file):
    params = params_file({"findings": {"experiments": {"e": EXPERIMENT}}})
    result = cli("run-experiment", "e", "--params", str(params),
                 env={cluster.SCHEDULER_FILE_ENV: str(tmp_path / "none.json")}, cwd=tmp_path)
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "none.json: no such file" in lines[0] and "dask scheduler --scheduler-file" in lines[0]


@pytest.mark.slow
def test_dvc_repro_of_an_experiment_stage_then_moving_to_a_scheduler_reruns_nothing(scheduler, tmp_path):
    """The real stage under `dvc repro` (the default pool), `dvc status` clean; pointing the stage
    at a scheduler is not a DVC input: status stays clean and a repro runs nothing."""
    from conftest import dvc, tiny_project

    tiny = {"mlflow": {"tracking_uri": f"sqlite:///{tmp_path / 'mlflow.db'}"}, "evaluate": {"n_samples": 64},
            "findings": {"seeds": [0], "map_seeds": [0],
                         "experiments": {"e": {**EXPERIMENT, "steps": 20, "map": {}}}}}
    repo = tiny_project(tmp_path / "repo", tiny)
    result = dvc("repro", "experiment@e", cwd=repo)
    assert result.returncode == 0, result.stderr
    assert (repo / "stages/experiments/e/base/seed_0/generator.pt").is_file()
    assert not list((repo / "stages/experiments/e").rglob(".*"))
    assert "up to date" in dvc("status", "experiment@e", cwd=repo).stdout
    os.environ[cluster.SCHEDULER_FILE_ENV] = str(scheduler)
    try:
        assert "up to date" in dvc("status", "experiment@e", cwd=repo).stdout
        again = dvc("repro", "experiment@e", cwd=repo)
    finally:
        del os.environ[cluster.SCHEDULER_FILE_ENV]
    assert again.returncode == 0 and "didn't change, skipping" in again.stdout and "Running stage" not in again.stdout
