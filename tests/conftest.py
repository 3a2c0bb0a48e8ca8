"""Shared fixtures: tiny params files, a prepared dataset, a scratch MLflow store."""

from __future__ import annotations

import copy
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
MNIST_T10K = ROOT.parent / "shared" / "data" / "mnist-t10k"
GIT = ["git", "-c", "user.email=t@t", "-c", "user.name=t"]  # commits in scratch repos


def pytest_configure(config):
    """One torch thread per pytest-xdist worker, inherited by every stage it starts: with torch's
    default of one thread per core, two workers' OpenMP threads spin-wait on each other and a
    training step takes several times longer. The run cache off, in this process and every stage it
    starts: a test of training, an executor or a stage must train, not read a run an earlier test
    (or the user's study) left; tests/test_runcache.py turns it on in folders of its own."""
    if os.environ.get("PYTEST_XDIST_WORKER"):
        os.environ["OMP_NUM_THREADS"] = "1"
    os.environ["GANPIPE_RUN_CACHE"] = "off"


def deep_update(base: dict, overrides: dict) -> dict:
    out = copy.deepcopy(base)
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = deep_update(out[key], value)
        else:
            out[key] = value
    return out


def project_params(root: Path = ROOT) -> dict:
    """params.yaml and the study's findings.yaml of the project at `root`, as one mapping."""
    return {**yaml.safe_load((root / "params.yaml").read_text()), **yaml.safe_load((root / "findings.yaml").read_text())}


def write_project_params(root: Path, raw: dict) -> None:
    """Write `raw` back as the project keeps it: the findings group in findings.yaml, the rest in params.yaml."""
    main = {key: value for key, value in raw.items() if key != "findings"}
    (root / "params.yaml").write_text(yaml.safe_dump(main, sort_keys=False))
    (root / "findings.yaml").write_text(yaml.safe_dump({"findings": raw["findings"]}, sort_keys=False))


def tiny_params(tmp: Path) -> dict:
    """The project's params (params.yaml and findings.yaml as one mapping) with a scratch MLflow
    store; each test shrinks what it trains itself (its own loop settings, or E2E_PARAMS below)."""
    raw = project_params()
    tiny = {"mlflow": {"tracking_uri": f"sqlite:///{tmp / 'mlflow.db'}"}}
    return deep_update(raw, tiny)


@pytest.fixture
def params_file(tmp_path):
    """Write params (the tiny defaults plus overrides) and return the path."""

    def write(overrides: dict | None = None, name: str = "params.yaml") -> Path:
        path = tmp_path / name
        path.write_text(yaml.safe_dump(deep_update(tiny_params(tmp_path), overrides or {})))
        return path

    return write


def run_cli(*args: str, cwd: Path | None = None, env: dict | None = None, timeout: float = 300):
    """Run `python -m ganpipe ARGS` in a process of its own, as a user would; return the
    CompletedProcess. For what only a process shows: signals, the thread settings a process picks
    when it starts, several stages at once. Everything else: `cli`."""
    full_env = {**os.environ, **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "ganpipe", *args], cwd=cwd, env=full_env, capture_output=True, text=True, timeout=timeout
    )


def cli(*args: str, cwd: Path | None = None, env: dict | None = None) -> subprocess.CompletedProcess:
    """Run `ganpipe ARGS` in this process through Typer's test runner: the same command, exit code,
    stdout and stderr as `run_cli`, without the ~5 s CPU a fresh interpreter spends importing torch
    and MLflow. An exception the command does not turn into its one-line error propagates (a
    traceback is a bug), and a command run twice here also shows it leaves no state behind."""
    from typer.testing import CliRunner

    from ganpipe.cli import app

    before = Path.cwd()
    if cwd is not None:
        os.chdir(cwd)
    try:
        result = CliRunner().invoke(app, list(args), env=env, catch_exceptions=False)
    finally:
        os.chdir(before)
    return subprocess.CompletedProcess(["ganpipe", *args], result.exit_code, result.stdout, result.stderr)


@pytest.fixture(scope="session")
def prepared(tmp_path_factory) -> Path:
    """A prepared mnist.npz (the bundled digits, the default split), written without a CLI run or a
    tracking store: for the tests that need data, not a test of `ganpipe prepare`."""
    from ganpipe.data.mnist import prepare
    from ganpipe.params import DataParams
    from ganpipe.running.files import write_npz

    arrays, _ = prepare(DataParams(), seed=0)
    path = tmp_path_factory.mktemp("prepared") / "mnist.npz"
    write_npz(path, **arrays)
    return path


@pytest.fixture
def t10k() -> Path:
    if not MNIST_T10K.is_dir():
        pytest.skip("the shared real MNIST test set is not present")
    return MNIST_T10K


def copy_project(dst: Path) -> Path:
    """A fresh git + DVC repo holding the project's files as they are now (tracked or new)."""
    files = subprocess.run(
        ["git", "ls-files", "-co", "--exclude-standard"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.split()
    for rel in files:
        src = ROOT / rel
        if not src.is_file() or rel.startswith(("stages/", "reports/")) or rel == "dvc.lock":
            continue
        (dst / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(src, dst / rel)
    subprocess.run([*GIT, "init", "-q", "-b", "main"], cwd=dst, check=True)
    subprocess.run([*GIT, "add", "-A"], cwd=dst, check=True)
    subprocess.run([*GIT, "commit", "-qm", "copy"], cwd=dst, check=True)
    return dst


def tiny_project(dst: Path, tiny: dict) -> Path:
    """`copy_project` with its params shrunk by `tiny`, committed. Its findings experiments, when
    given, replace the project's instead of merging into them."""
    copy_project(dst)
    params = deep_update(project_params(dst), tiny)
    if "experiments" in tiny.get("findings", {}):
        params["findings"]["experiments"] = tiny["findings"]["experiments"]
    write_project_params(dst, params)
    subprocess.run([*GIT, "commit", "-qam", "tiny"], cwd=dst, check=True)
    return dst


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def stop_group(proc: subprocess.Popen, sig: int = signal.SIGTERM) -> None:
    """End a process started with start_new_session, and the workers it forked."""
    if proc.poll() is None:
        os.killpg(proc.pid, sig)
    proc.wait(timeout=30)


def wait_healthy(url: str, proc: subprocess.Popen, timeout: float = 90) -> None:
    """Wait until the MLflow server `proc` answers on url/health; fail the test if it dies or never does."""
    import time
    import urllib.request

    deadline = time.time() + timeout
    while True:
        try:
            with urllib.request.urlopen(url + "/health", timeout=2):
                return
        except OSError:
            if proc.poll() is not None or time.time() > deadline:
                proc.kill()
                pytest.fail(f"the MLflow server at {url} did not start")
            time.sleep(0.5)


def dvc(*args: str, cwd: Path, timeout: float = 1200) -> subprocess.CompletedProcess:
    """Run the real `dvc` CLI in `cwd`; return the CompletedProcess."""
    return subprocess.run(["dvc", *args], cwd=cwd, capture_output=True, text=True, timeout=timeout)


# --- the tiny end-to-end repro, shared ------------------------------------------------------------

LOOP = {"steps": 6, "batch_size": 16, "log_every": 2, "grid_every": 3, "checkpoint_every": 3}
# the experiments: enough snapshots for the trained rule's thirds and the last third's stability
RUN = {**LOOP, "steps": 12, "grid_every": 2}
NOTE_CELL = {"note_upsample": {"generator": "upsample", "critic_norm": "batch", "output": "sigmoid"}}
E2E_PARAMS = {
    "classifier": {"epochs": 1},
    "ae": LOOP, "vae": LOOP, "gan": {**LOOP, "grid_every": 1}, "wgan": {**LOOP, "n_critic": 2, "grid_every": 1},
    "evaluate": {"n_samples": 100},
    "findings": {
        "experiments": {
            name: {**RUN, **cfg, "snapshot_size": 64}
            for name, cfg in {
                # more seeds than findings.seeds, as a claim whose outcome differs between seeds runs
                "f1_strong_d": {"model": "gan", "d_steps": 3, "lr_d": 1.0e-3, "seeds": [0, 1, 2, 3],
                                "map": {"output": ["tanh", "sigmoid"]}},
                # F1's runs of known state: the arm at twice its budget, at a seed of its own
                "f1_known_long": {"model": "gan", "d_steps": 3, "lr_d": 1.0e-3, "steps": 24, "seeds": [5]},
                # the sweep with a note-setting cell of the upsample generator (F3b's whole-run states and kernels)
                **{name: {"model": "wgan", "generator": "fc", "clip": clip, "n_critic": 2, "map": NOTE_CELL}
                   for name, clip in (("f3_clip_001", 0.01), ("f3_clip_1", 1.0))},
                # the heads under the WGAN too: a map cell that switches the model, end to end
                **{f"f4_{head}": {"model": "gan", "generator": head, "map": [{"model": ["wgan"], "n_critic": [2]}]}
                   for head in ("fc", "conv3", "conv5")},
                "f5_upsample": {"model": "gan", "generator": "upsample"},
                "trained_gan_full": {"model": "gan"},
                "trained_wgan_full": {"model": "wgan", "n_critic": 2},
                "trained_gan_tenth": {"model": "gan", "steps": 6, "grid_every": 1},
                "trained_wgan_tenth": {"model": "wgan", "n_critic": 2, "steps": 6, "grid_every": 1},
            }.items()
        },
        "seeds": [0, 1],
        "map_seeds": [0],
        "toy": {"thetas": 5, "steps": 20, "d_star_steps": 50},
        "fid_snapshot_n": 64,
        "validity": {"phase_snapshots_min": 6},  # RUN's snapshots
    },
}


class E2E:
    """The project on E2E_PARAMS after one `dvc repro` of every stage, its results committed.

    `repo` is the live copy, which test_findings_report and the queue tests extend with `dvc exp
    run`s; `pristine`, a snapshot taken right after the repro, is for tests that only read it (the
    UI, whose runs table shows the repro's runs alone)."""

    def __init__(self, root: Path):
        self.repo = tiny_project(root / "repo", E2E_PARAMS)
        result = dvc("repro", cwd=self.repo)
        assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
        subprocess.run([*GIT, "add", "-A"], cwd=self.repo, check=True)
        subprocess.run([*GIT, "commit", "-qm", "results"], cwd=self.repo, check=True)
        self.pristine = root / "pristine"
        shutil.copytree(self.repo, self.pristine, symlinks=True)


@pytest.fixture(scope="session")
def e2e(tmp_path_factory) -> E2E:
    """One tiny end-to-end `dvc repro` per test session (the suite's longest setup), shared by every
    test that reads it; `pytest_collection_modifyitems` sends those tests to one xdist worker."""
    if shutil.which("dvc") is None:
        pytest.skip("dvc is not installed")
    return E2E(tmp_path_factory.mktemp("e2e"))


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config, items):
    """xdist's loadgroup: the tests of one module run on one worker (so a module's fixtures are
    built once, as with loadscope), except that every test using the shared e2e repro runs on the
    same worker, wherever its module is. Before xdist's own hook, which reads these marks into
    the test ids. The e2e group first, so the suite's longest chain starts at once (pyproject's
    --no-loadscope-reorder keeps this order; xdist would otherwise send the groups with the most
    tests first); the other modules follow in file order."""
    for item in items:
        if item.get_closest_marker("xdist_group"):
            continue
        group = "e2e" if "e2e" in item.fixturenames else item.module.__name__
        item.add_marker(pytest.mark.xdist_group(group))
    items.sort(key=lambda item: "e2e" not in item.fixturenames)
