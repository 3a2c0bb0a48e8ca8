"""End to end: a real `dvc repro` in a fresh copy of the project, then again doing nothing."""

import shutil

import pytest
import yaml

from conftest import copy_project, deep_update, dvc

pytestmark = pytest.mark.slow


@pytest.fixture
def project(tmp_path):
    if shutil.which("dvc") is None:
        pytest.skip("dvc is not installed")
    repo = copy_project(tmp_path / "repo")
    return repo


def test_repro_prepare_then_nothing_to_do(project):
    first = dvc("repro", "prepare", cwd=project)
    assert first.returncode == 0, first.stderr + first.stdout
    assert (project / "stages" / "prepare" / "mnist.npz").exists()
    assert (project / "mlflow.db").exists()  # the repo's own store, created on first use
    second = dvc("repro", "prepare", cwd=project)
    assert second.returncode == 0
    assert "didn't change, skipping" in second.stdout or "is cached" in second.stdout
    status = dvc("status", "prepare", cwd=project)
    assert "up to date" in status.stdout


def test_changed_param_reruns_prepare(project):
    assert dvc("repro", "prepare", cwd=project).returncode == 0
    params = yaml.safe_load((project / "params.yaml").read_text())
    (project / "params.yaml").write_text(yaml.safe_dump(deep_update(params, {"seed": 3})))
    again = dvc("repro", "prepare", cwd=project)
    assert again.returncode == 0
    assert "Running stage 'prepare'" in again.stdout
