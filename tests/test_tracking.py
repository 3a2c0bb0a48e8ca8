"""MLflow: a real `mlflow server` on 127.0.0.1 receives a stage's run over HTTP; bad stores fail fast."""

import socket
import subprocess
import sys
import time

import pytest

from conftest import run_cli, wait_healthy
from ganpipe.tracking import repo_root


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def mlflow_server(tmp_path_factory):
    """A real MLflow tracking server with its own sqlite store, bound to loopback."""
    folder = tmp_path_factory.mktemp("server")
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "mlflow", "server", "--backend-store-uri", f"sqlite:///{folder / 'db.sqlite'}",
         "--artifacts-destination", str(folder / "artifacts"), "--host", "127.0.0.1", "--port", str(port),
         "--workers", "1"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    wait_healthy(url, proc)
    yield url
    proc.terminate()
    proc.wait(timeout=30)


def test_stage_logs_to_a_real_server_over_http(tmp_path, params_file, mlflow_server):
    from mlflow.tracking import MlflowClient

    path = params_file({"mlflow": {"tracking_uri": mlflow_server, "experiment": "http-test"}})
    result = run_cli("prepare", "--params", str(path), "--out", str(tmp_path / "out"),
                     env={"DVC_EXP_NAME": "crisp-lark"})
    assert result.returncode == 0, result.stderr
    client = MlflowClient(tracking_uri=mlflow_server)
    exp = client.get_experiment_by_name("http-test")
    (run,) = client.search_runs([exp.experiment_id])
    assert run.info.status == "FINISHED"
    assert run.data.params["data.source"] == "bundled" and run.data.params["seed"] == "0"
    assert run.data.tags["stage"] == "prepare" and run.data.tags["dvc_exp_name"] == "crisp-lark"
    assert len(run.data.tags["git_commit"]) in (40, len("unknown"))
    assert [a.path for a in client.list_artifacts(run.info.run_id)] == ["data.json"]


def test_unreachable_server_fails_fast_naming_the_uri(tmp_path, params_file):
    uri = f"http://127.0.0.1:{free_port()}"
    out = tmp_path / "out"
    started = time.time()
    result = run_cli("prepare", "--params", str(params_file({"mlflow": {"tracking_uri": uri}})), "--out", str(out))
    assert result.returncode == 1
    assert uri in result.stderr and "cannot reach" in result.stderr
    assert time.time() - started < 30
    assert not out.exists()


def test_environment_variable_selects_the_store(tmp_path, params_file):
    path = params_file({"mlflow": {"tracking_uri": None}})
    db = tmp_path / "env-store.db"
    result = run_cli("prepare", "--params", str(path), "--out", str(tmp_path / "out"),
                     env={"MLFLOW_TRACKING_URI": f"sqlite:///{db}"})
    assert result.returncode == 0, result.stderr
    assert db.exists()


def test_repo_root_climbs_out_of_dvc_temp_copies(tmp_path):
    (tmp_path / ".dvc").mkdir()
    temp_copy = tmp_path / ".dvc" / "tmp" / "exps" / "tmpabc123"
    temp_copy.mkdir(parents=True)
    assert repo_root(temp_copy) == tmp_path
    assert repo_root(tmp_path) == tmp_path


def test_a_stage_outside_dvc_has_no_pipeline_parent(monkeypatch):
    from ganpipe.execution import _is_dvc, execution_key

    monkeypatch.delenv("DVC_STAGE", raising=False)
    assert execution_key() is None  # `ganpipe train-gan` by hand: a run of its own
    assert _is_dvc(["/usr/bin/python3.11", "/usr/local/bin/dvc", "repro"])
    assert _is_dvc(["python", "-m", "dvc", "exp", "run"]) and _is_dvc(["dvc", "exp", "exec-run"])
    assert not _is_dvc(["/bin/sh", "-c", "ganpipe train-gan"]) and not _is_dvc(["python", "-m", "ganpipe"])
