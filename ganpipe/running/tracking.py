"""MLflow: one run per stage, in the repo's own store unless told otherwise.

Default store: `sqlite:///<repo root>/mlflow.db`, artifacts under `<repo root>/mlartifacts`.
`mlflow.tracking_uri` in params.yaml, else MLFLOW_TRACKING_URI, points the same code at a server.
Under `dvc exp run --temp/--queue` a stage runs in a temporary copy of the repo; the root is then
the real repository above `.dvc/tmp/exps/...`, so runs and artifacts outlive the copy.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
import urllib.error
import urllib.request
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from ganpipe.params import MlflowParams, Params, flatten
from ganpipe.running.execution import DVC_STAGE_TAG, describe_pipeline, execution_dir, execution_key, parent_run

# MLflow 3 opens an experiment in the view its kind names; without it the UI shows the GenAI
# overview (traces, latency), which has nothing to show for training runs. And a shared view of
# the runs table (MLflow's "share view": an experiment tag, opened by ?viewStateShareKey=KEY) with
# the headline measures and the knobs as columns, since the table's default shows neither. The
# table opens on each pipeline execution's collapsed row, so its columns are the ones that row
# carries: every model's headline (evaluate logs it there) and the verdict counts (findings); a
# stage's own run, one click further, shows its own numbers.
TRAINING_VIEW = "ganpipe"
# (six metric columns: more push the knobs off the screen, since the table shows metrics first)
_VIEW_COLUMNS = [*(f"metrics.`{model}.{m}`" for m in ("fid", "modes") for model in ("wgan", "gan")),
                 *(f"metrics.`verdicts.{v}`" for v in ("reproduced", "not_reproduced")),
                 *(f"params.`{p}`" for p in ("wgan.clip", "gan.generator")),  # what `dvc exp run -S` turned
                 "tags.`dvc_exp_name`"]
EXPERIMENT_TAGS = {
    "mlflow.experimentKind": "custom_model_development",
    f"mlflow.sharedViewState.{TRAINING_VIEW}": json.dumps(
        {"searchFilter": "", "orderByKey": "attributes.start_time", "orderByAsc": False, "selectedColumns": _VIEW_COLUMNS}),
}


class TrackingError(RuntimeError):
    """The tracking store cannot be used; the message names the URI."""


def repo_root(start: str | Path | None = None) -> Path:
    """The project's root: DVC_ROOT if DVC set it, else the nearest folder with `.dvc/` above cwd,
    climbing out of DVC's temporary experiment copies (`<root>/.dvc/tmp/exps/...`)."""
    here = Path(start or os.environ.get("DVC_ROOT") or Path.cwd()).resolve()
    parts = here.parts
    for i in range(len(parts) - 3):
        if parts[i : i + 3] == (".dvc", "tmp", "exps"):
            return Path(*parts[:i])
    for folder in (here, *here.parents):
        if (folder / ".dvc").is_dir():
            return folder
    return here


def tracking_uri(cfg: MlflowParams) -> str:
    if cfg.tracking_uri:
        return cfg.tracking_uri
    if os.environ.get("MLFLOW_TRACKING_URI"):
        return os.environ["MLFLOW_TRACKING_URI"]
    return f"sqlite:///{repo_root() / 'mlflow.db'}"


def check_reachable(uri: str, timeout: float = 5.0) -> None:
    """Fail fast, before any training, when the store cannot be used."""
    if uri.startswith(("http://", "https://")):
        try:
            with urllib.request.urlopen(uri.rstrip("/") + "/health", timeout=timeout) as r:
                if r.status != 200:
                    raise TrackingError(f"MLflow server at {uri} answered /health with HTTP {r.status}")
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise TrackingError(f"cannot reach the MLflow tracking server at {uri} ({reason})") from None
    elif uri.startswith("sqlite:///"):
        folder = Path(uri.removeprefix("sqlite:///")).parent
        if not folder.is_dir() or not os.access(folder, os.W_OK):
            raise TrackingError(f"MLflow store {uri}: folder {folder} does not exist or is not writable")


def git_commit(root: Path) -> str:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, timeout=10)
        return out.stdout.strip() if out.returncode == 0 else "unknown"
    except OSError:
        return "unknown"


def git_changes(root: Path) -> list[str]:
    """The tracked files whose content differs from the commit (`git status`), leaving out what DVC
    itself writes during a `dvc repro` (dvc.lock, the stage outputs under stages/ and reports/):
    empty for a clean checkout; params.yaml under a `dvc exp run -S`; ["?"] where git cannot tell."""
    try:
        out = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=root, capture_output=True,
                             text=True, timeout=10)
    except OSError:
        return ["?"]
    if out.returncode != 0:
        return ["?"]
    paths = [line[3:].split(" -> ")[-1] for line in out.stdout.splitlines() if line.strip()]
    return sorted(p for p in paths if p != "dvc.lock" and not p.startswith(("stages/", "reports/")))


class StageRun:
    """An open MLflow run. Metrics are buffered and sent in batches, never one call per number.

    A store that fails once the run is open (a server stopped mid-training, a disk full) must not
    throw away the training: the first failure is remembered, later calls are skipped, and
    `stage_run` reports it after the stage has written its outputs.
    """

    def __init__(self, client, run_id: str, flush_every: int = 2000, uri: str = "", stage: str = ""):
        self.client = client
        self.run_id = run_id
        self.uri = uri
        self.stage = stage
        self.experiment_id = ""
        self.parent_id: str | None = None  # the pipeline execution's run, when DVC runs the stage
        self.failure: str | None = None  # the first call that failed, as one line
        self._buffer: list = []
        self._flush_every = flush_every

    def _send(self, what: str, call, *args, **kwargs) -> None:
        if self.failure is not None:
            return
        try:
            call(*args, **kwargs)
        except Exception as exc:  # MlflowException, requests' ConnectionError, sqlite OperationalError ...
            first = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else type(exc).__name__
            self.failure = f"{what} failed: {first}"

    def log_metrics(self, metrics: dict[str, float], step: int) -> None:
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        self._buffer.extend(Metric(k, float(v), now, step) for k, v in metrics.items())
        if len(self._buffer) >= self._flush_every:
            self.flush()

    def flush(self) -> None:
        while self._buffer:
            chunk, self._buffer = self._buffer[:1000], self._buffer[1000:]  # MLflow's batch limit
            self._send("logging metrics", self.client.log_batch, self.run_id, metrics=chunk)

    def log_metrics_to(self, run_id: str, metrics: dict[str, float], step: int = 0) -> None:
        """Metrics onto another run of the same store (evaluate's scores onto a model's training run)."""
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        batch = [Metric(k, float(v), now, step) for k, v in metrics.items()]
        self._send(f"logging metrics to run {run_id}", self.client.log_batch, run_id, metrics=batch)

    def log_to_pipeline(self, metrics: dict[str, float]) -> None:
        """Headline numbers onto the pipeline execution's parent run, so its collapsed row in the
        runs table says what happened; nothing when the stage runs outside DVC (no parent)."""
        if self.parent_id is not None:
            self.log_metrics_to(self.parent_id, metrics)

    def log_artifact(self, path: str | Path, artifact_path: str | None = None) -> None:
        self._send(f"logging artifact {Path(path).name}", self.client.log_artifact, self.run_id, str(path), artifact_path)

    def log_model(self, name: str, net, example) -> None:
        """A torch module as an MLflow model under `name`, with the signature and input example of
        `example` (a batch of its input), so `mlflow.pytorch.load_model("runs:/<run id>/<name>")`
        gives it back (MLflow stores it as an exported torch program: loading needs no ganpipe)."""
        self._send(f"logging model {name}", _log_torch_model, self.uri, self.run_id, name, net, example)

    def set_tags(self, tags: dict[str, str]) -> None:
        for k, v in tags.items():
            self._send(f"setting tag {k}", self.client.set_tag, self.run_id, k, v)

    def open_child(self, name: str, params: Params, extra, tags: dict[str, str]) -> str:
        """A run nested under this one for a run that trains elsewhere (a findings run in a worker):
        opened here with its tags and params, filled by `replay` when the run comes back."""
        from mlflow.entities import Param

        tags = {**_run_tags(self.stage, {"mlflow.runName": name, **tags}), "mlflow.parentRunId": self.run_id}
        try:
            run = self.client.create_run(self.experiment_id, tags=tags, run_name=name)
            logged = _logged_params(params, (), extra, nested=True)
            self.client.log_batch(run.info.run_id, params=[Param(k, str(v)) for k, v in logged.items()])
        except Exception as exc:
            raise TrackingError(f"cannot use MLflow store {self.uri}: {str(exc).splitlines()[0][:200]}") from None
        return run.info.run_id

    def replay(self, record: dict, folder: Path, status: str = "FINISHED") -> None:
        """Log what a `RunRecord` kept onto its run (opened by `open_child`) and end that run: its
        metrics in batches, its artifacts from `folder`, where the run's files now are."""
        from mlflow.entities import Metric

        run_id = record["run_id"]
        metrics = [Metric(k, v, t, step) for k, v, t, step in record["metrics"]]
        for i in range(0, len(metrics), 1000):  # MLflow's batch limit
            self._send(f"logging metrics to run {run_id}", self.client.log_batch, run_id, metrics=metrics[i : i + 1000])
        for rel, artifact_path in record["artifacts"]:
            self._send(f"logging artifact {rel}", self.client.log_artifact, run_id, str(folder / rel), artifact_path)
        self.end_child(run_id, status)

    def end_child(self, run_id: str, status: str) -> None:
        """End a run `open_child` opened (FAILED for one whose worker never came back)."""
        self._send(f"ending run {run_id} as {status}", self.client.set_terminated, run_id, status)

    def end(self, status: str) -> None:
        self._send(f"ending the run as {status}", self.client.set_terminated, self.run_id, status)
        if self.parent_id is not None:
            self._send("describing the pipeline run", describe_pipeline, self.client, self.experiment_id, self.parent_id,
                       execution_dir(), status)


class RunRecord:
    """A run's MLflow calls kept as plain data instead of sent: a findings run trains in a worker
    that never opens the store (opening a SQL store walks every migration script), and the stage
    that opened the run for it logs them there (`StageRun.replay`). Artifacts are kept as paths
    relative to the run's folder, which moves when its staging folder is published."""

    def __init__(self, run_id: str, folder: Path):
        self.run_id, self.folder = run_id, Path(folder)
        self.metrics: list[tuple[str, float, int, int]] = []  # (key, value, timestamp in ms, step)
        self.artifacts: list[tuple[str, str | None]] = []  # (path in the run's folder, artifact path)

    def log_metrics(self, metrics: dict[str, float], step: int) -> None:
        now = int(time.time() * 1000)
        self.metrics += [(k, float(v), now, step) for k, v in metrics.items()]

    def log_artifact(self, path: str | Path, artifact_path: str | None = None) -> None:
        self.artifacts.append((str(Path(path).relative_to(self.folder)), artifact_path))

    def dump(self) -> dict:
        return {"run_id": self.run_id, "metrics": self.metrics, "artifacts": self.artifacts}


def training_view_url(base: str, uri: str, experiment: str) -> str:
    """Where the UI shows the runs table with ganpipe's columns (the base URL if no run exists yet)."""
    if uri.startswith("sqlite:///") and not Path(uri.removeprefix("sqlite:///")).exists():
        return base  # opening a missing store would create it
    from mlflow.tracking import MlflowClient

    exp = MlflowClient(tracking_uri=uri).get_experiment_by_name(experiment)
    return f"{base}/#/experiments/{exp.experiment_id}/runs?viewStateShareKey={TRAINING_VIEW}" if exp else base


def _log_torch_model(uri: str, run_id: str, name: str, net, example) -> None:
    """Log `net` as the nn.Module it is (pickled), with the classes it is made of beside it.

    MLflow's default, an exported program (pt2), loads back as a graph whose `.eval()` and
    `.train()` raise NotImplementedError: not what a PyTorch user expects from `load_model`. The
    pickle needs its classes at load time, so the model carries them: the ganpipe modules that
    define the net's layers (training/models.py, torch only) as the package `ganpipe` in the model's code
    folder, which MLflow puts on sys.path when it loads; no ganpipe install is needed. Loading
    runs the pickle: load models from your own store."""
    import logging
    import sys
    import tempfile

    import mlflow
    import mlflow.pytorch
    import torch
    from mlflow.models import infer_signature

    net = net.cpu().eval()
    with torch.no_grad():
        output = net(example)
    signature = infer_signature(example.numpy(), output.numpy())
    # set_tracking_uri also sets MLFLOW_TRACKING_URI for every process this one starts later: put back what was there
    previous = os.environ.get("MLFLOW_TRACKING_URI")
    mlflow.set_tracking_uri(uri)
    with tempfile.TemporaryDirectory() as tmp:
        package = Path(tmp) / "ganpipe"
        package.mkdir()
        (package / "__init__.py").write_text('"""The classes of the nets ganpipe logs as MLflow models."""\n')
        for module in {type(layer).__module__ for layer in net.modules()}:
            if module.startswith("ganpipe."):
                *packages, leaf = module.split(".")[1:]  # ganpipe.training.models -> training/, models.py
                for depth in range(len(packages)):
                    init = package.joinpath(*packages[: depth + 1]) / "__init__.py"
                    init.parent.mkdir(exist_ok=True)
                    init.touch()
                source = Path(sys.modules[module].__file__)
                (package.joinpath(*packages) / f"{leaf}.py").write_text(source.read_text())
        # the fluent API is the one that logs models; it ends the run as FINISHED on the way out, and
        # the stage sets its final status again when it ends
        pickle_warning = logging.getLogger("mlflow.pytorch")
        level = pickle_warning.level
        pickle_warning.setLevel(logging.ERROR)  # its warning about pickles: the docstring says it, once
        try:
            with mlflow.start_run(run_id=run_id):
                mlflow.pytorch.log_model(net, name=name, signature=signature, input_example=example.numpy(),
                                         serialization_format="pickle", code_paths=[str(package)],
                                         pip_requirements=[f"torch=={torch.__version__.split('+')[0]}"])
        finally:
            pickle_warning.setLevel(level)
            mlflow.set_tracking_uri(previous)


def _experiment_id(client, name: str, uri: str) -> str:
    exp = client.get_experiment_by_name(name)
    if exp is not None:
        for key, value in EXPERIMENT_TAGS.items():  # made by hand (UI, `mlflow experiments create`): add the views
            if exp.tags.get(key) != value:
                client.set_experiment_tag(exp.experiment_id, key, value)
        return exp.experiment_id
    artifact_location = None
    if not uri.startswith(("http://", "https://")):
        # absolute, so artifacts of runs inside DVC's temporary copies land in the real repo
        artifact_location = (repo_root() / "mlartifacts").as_uri()
    try:
        return client.create_experiment(name, artifact_location=artifact_location, tags=EXPERIMENT_TAGS)
    except Exception:  # another process created it first (parallel queued experiments)
        exp = client.get_experiment_by_name(name)
        if exp is None:
            raise
        return exp.experiment_id


def _run_tags(stage: str, tags: dict[str, str]) -> dict[str, str]:
    """A run's tags: its stage, the git commit, its name (the stage's unless given), DVC's experiment."""
    tags = {"stage": stage, "git_commit": git_commit(repo_root()), "mlflow.runName": stage, **tags}
    for var, tag in (("DVC_EXP_NAME", "dvc_exp_name"), ("DVC_EXP_BASELINE_REV", "dvc_exp_baseline_rev"),
                     ("DVC_STAGE", DVC_STAGE_TAG)):
        if os.environ.get(var):
            tags[tag] = os.environ[var]
    return tags


def _logged_params(params: Params, groups: tuple[str, ...], extra, nested: bool) -> dict:
    """A run's params: the seed (and the params' digest, for a stage's own run), its groups, or a
    findings experiment's own config."""
    dumped = params.model_dump(mode="json")
    logged = {"seed": params.seed} if nested else {"seed": params.seed, "params_digest": params.digest()}
    for group in groups:
        logged.update(flatten(dumped[group], group + "."))
    if extra is not None and not groups:  # a findings experiment: log its own config
        logged.update(flatten(extra.model_dump(mode="json"), "experiment."))
    return logged


@contextmanager
def stage_run(stage: str, params: Params, groups: tuple[str, ...] = (), extra=None,
              tags: dict[str, str] | None = None) -> Iterator[StageRun]:
    """Open the MLflow run of one stage; it ends FINISHED, or FAILED if the block raises.

    A store that cannot be used at the start fails fast, before any work. A store that fails
    after the run is open is reported when the block has finished: the stage's outputs are on
    disk, and a `TrackingError` naming the URI makes the command exit non-zero. Exiting 0 would
    let DVC record a stage whose MLflow run is missing or cut short, and the report's provenance
    would point at it; non-zero leaves the stage unrecorded, so the next `dvc repro` runs it
    again once the store is back (a training stage resumes from its last checkpoint, which is
    kept in this case). If the block itself raises, that error is the one reported.

    `tags`: more tags. A findings experiment's stage run holds one run per seed and condition,
    nested under it (`StageRun.open_child`).
    """
    uri = tracking_uri(params.mlflow)
    check_reachable(uri)
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "2")
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "20")
    from mlflow.entities import Param
    from mlflow.tracking import MlflowClient

    tags = _run_tags(stage, tags or {})
    run_name = tags["mlflow.runName"]
    logged = _logged_params(params, groups, extra, nested=False)
    try:
        with _first_use_lock(uri):
            client = MlflowClient(tracking_uri=uri)  # opening a new sqlite store creates its tables
            experiment_id = _experiment_id(client, params.mlflow.experiment, uri)
        key = execution_key()
        parent_id = parent_run(client, experiment_id, key, tags, execution_dir()) if key else None
        if parent_id:
            tags["mlflow.parentRunId"] = parent_id
        run = client.create_run(experiment_id, tags=tags, run_name=run_name)
        client.log_batch(run.info.run_id, params=[Param(k, str(v)) for k, v in logged.items()])
    except Exception as exc:
        raise TrackingError(f"cannot use MLflow store {uri}: {str(exc).splitlines()[0][:200]}") from None
    stage_run_ = StageRun(client, run.info.run_id, uri=uri, stage=stage)
    stage_run_.experiment_id, stage_run_.parent_id = experiment_id, parent_id
    try:
        yield stage_run_
    except BaseException:
        stage_run_.flush()
        stage_run_.end("FAILED")
        raise
    stage_run_.flush()
    stage_run_.end("FINISHED")
    if stage_run_.failure:
        raise TrackingError(f"MLflow tracking at {uri} failed mid-run ({stage_run_.failure}); the stage's outputs "
                            f"are written, but its MLflow run {run.info.run_id} is incomplete")


@contextmanager
def _first_use_lock(uri: str) -> Iterator[None]:
    """Serialise opening a sqlite store across processes.

    The first process to open a new mlflow.db creates its tables; two at once (two
    `dvc queue start -j 2` workers on a fresh clone) crash in MLflow's migrations ('table metrics
    already exists', alembic 'expected to match one row'). Once the tables exist, sqlite's own
    locking is enough for the runs' short writes (Python's sqlite3 waits up to 5 s on a busy
    database; four processes logging at once never hit 'database is locked').
    """
    if not uri.startswith("sqlite:///"):
        yield
        return
    from filelock import FileLock  # a dependency of torch

    db = Path(uri.removeprefix("sqlite:///"))
    with FileLock(str(db.with_name(db.name + "-init.lock")), timeout=120):
        yield
