"""MLflow: a real `mlflow server` on 127.0.0.1 receives a stage's run over HTTP; bad stores fail fast."""

import os
import subprocess
import sys
import time

import pytest

from conftest import ROOT, cli, free_port, wait_healthy
from ganpipe.running.tracking import repo_root


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
    result = cli("prepare", "--params", str(path), "--out", str(tmp_path / "out"),
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
    result = cli("prepare", "--params", str(params_file({"mlflow": {"tracking_uri": uri}})), "--out", str(out))
    assert result.returncode == 1
    assert uri in result.stderr and "cannot reach" in result.stderr
    assert time.time() - started < 30
    assert not out.exists()


def test_environment_variable_selects_the_store(tmp_path, params_file):
    path = params_file({"mlflow": {"tracking_uri": None}})
    db = tmp_path / "env-store.db"
    result = cli("prepare", "--params", str(path), "--out", str(tmp_path / "out"),
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
    from ganpipe.running.execution import _is_dvc, execution_key

    monkeypatch.delenv("DVC_STAGE", raising=False)
    assert execution_key() is None  # `ganpipe train-gan` by hand: a run of its own
    assert _is_dvc(["/usr/bin/python3.11", "/usr/local/bin/dvc", "repro"])
    assert _is_dvc(["python", "-m", "dvc", "exp", "run"]) and _is_dvc(["dvc", "exp", "exec-run"])
    assert not _is_dvc(["/bin/sh", "-c", "ganpipe train-gan"]) and not _is_dvc(["python", "-m", "ganpipe"])


LOAD_WITHOUT_GANPIPE = """
import sys
sys.meta_path = [f for f in sys.meta_path if "editable" not in str(getattr(f, "__module__", ""))]  # pip install -e
sys.path = [p for p in sys.path if p not in ("", {root!r})]
import importlib.util
assert importlib.util.find_spec("ganpipe") is None, "ganpipe is still importable"
import mlflow.pytorch, torch
mlflow.set_tracking_uri({uri!r})
net = mlflow.pytorch.load_model("runs:/{run_id}/generator")
net.eval()  # the first thing a PyTorch user calls; an exported program raises here
assert isinstance(net, torch.nn.Module) and not net.training
z = torch.load({codes!r})
with torch.no_grad():
    torch.save(net.to("cpu")(z), {out!r})
print(type(net).__name__, sys.modules["ganpipe"].__file__)
"""


def test_a_logged_generator_loads_back_as_a_module_without_ganpipe(tmp_path):
    """`mlflow.pytorch.load_model` gives the nn.Module (eval, to, training) with the same outputs,
    in a process that cannot import ganpipe: the model carries the classes it is made of."""
    import torch
    from mlflow.tracking import MlflowClient

    from ganpipe.running.tracking import StageRun
    from ganpipe.training.models import make_generator

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    client = MlflowClient(tracking_uri=uri)
    run_id = client.create_run(client.create_experiment("t", (tmp_path / "artifacts").as_uri())).info.run_id
    torch.manual_seed(0)
    net, codes = make_generator("conv5", 196), torch.randn(4, 196)
    run = StageRun(client, run_id, uri=uri)
    before = os.environ.get("MLFLOW_TRACKING_URI")
    run.log_model("generator", net, codes)
    assert run.failure is None, run.failure
    assert os.environ.get("MLFLOW_TRACKING_URI") == before  # logging leaves later subprocesses' store alone
    torch.save(codes, tmp_path / "codes.pt")
    script = LOAD_WITHOUT_GANPIPE.format(root=str(ROOT), uri=uri, run_id=run_id, codes=str(tmp_path / "codes.pt"),
                                         out=str(tmp_path / "images.pt"))
    done = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    name, origin = done.stdout.split()
    assert name == type(net).__name__ and str(ROOT) not in origin  # the class came from the model's own code
    with torch.no_grad():
        assert torch.equal(torch.load(tmp_path / "images.pt"), net.eval()(codes))


def test_the_report_names_the_pipeline_parent_and_each_stage_by_its_latest_run(tmp_path):
    """The report's provenance lists the newest run of each stage at the report's params and of the
    pipeline execution's parent by name; a run that is neither (someone's manual run in the same
    experiment) is left out, and so is a newer stage run at other params (an experiment's)."""
    from mlflow.tracking import MlflowClient

    from ganpipe.pipeline.report import latest_runs
    from ganpipe.running.execution import EXECUTION_TAG

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    client = MlflowClient(tracking_uri=uri)
    exp = client.create_experiment("ganpipe", artifact_location=str(tmp_path / "artifacts"))
    made = {}
    for name, tags in [("old prepare", {"stage": "prepare"}), ("parent", {EXECUTION_TAG: "k"}),
                       ("prepare", {"stage": "prepare"}), ("manual", {})]:
        made[name] = client.create_run(exp, tags=tags, start_time=1000 + len(made)).info.run_id
        client.log_param(made[name], "params_digest", "ours")
    made["experiment's"] = client.create_run(exp, tags={"stage": "prepare"}, start_time=2000).info.run_id
    client.log_param(made["experiment's"], "params_digest", "theirs")
    assert latest_runs(uri, "ganpipe", "ours") == {"prepare": made["prepare"],
                                                  "pipeline execution (parent)": made["parent"]}
