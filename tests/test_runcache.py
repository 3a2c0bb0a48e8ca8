"""The run cache (ganpipe/running/runcache.py) behind `ganpipe run-experiment`: a run trained once is
restored, byte for byte, and trained again whenever anything its numbers depend on changes; a
corrupt or cut entry is found, said in one line and trained again; two writers of one key leave
one whole entry; `ganpipe cache` lists and prunes; the report counts the restored runs."""

from __future__ import annotations

import json
import multiprocessing
import shutil
from pathlib import Path

import pytest
import yaml

from conftest import cli, deep_update, tiny_params
from ganpipe.params import load_params
from ganpipe.running import runcache

LOOP = {"steps": 12, "batch_size": 16, "log_every": 2, "grid_every": 4, "checkpoint_every": 6, "snapshot_size": 64}
EXPERIMENT = {"model": "gan", "generator": "fc", **LOOP, "map": [{"output": ["sigmoid"]}]}
CLOCK = ("seconds", "seconds_per_step", "mlflow_run_id", "resumed_from", "steps_run")


def write_params(folder: Path, experiment: dict = EXPERIMENT, seeds=(0, 1)) -> Path:
    raw = deep_update(tiny_params(folder), {"evaluate": {"n_samples": 32},
                                            "findings": {"seeds": list(seeds), "map_seeds": [0]}})
    raw["findings"]["experiments"] = {"e": experiment}
    (folder / "params.yaml").write_text(yaml.safe_dump(raw))
    return folder / "params.yaml"


def run(params: Path, out: Path, data: Path, cache: Path | None, capsys=None) -> dict:
    from ganpipe.pipeline.experiment import run_experiment

    return run_experiment("e", load_params(params), out, data, workers=2, cache=cache)


def files(out: Path, drop_clock: bool = False) -> dict[str, bytes]:
    """Every run's files; train.json without its clock and run id when `drop_clock`."""
    found = {}
    for path in sorted(out.rglob("*")):
        rel = str(path.relative_to(out))
        if not path.is_file() or rel == "experiment.json":
            continue
        data = path.read_bytes()
        if drop_clock and path.name == "train.json":
            data = json.dumps({k: v for k, v in json.loads(data).items() if k not in CLOCK}, sort_keys=True).encode()
        found[rel] = data
    return found


@pytest.fixture(scope="module")
def cold(tmp_path_factory, prepared):
    """The experiment's three runs (two seeds, one map cell) trained into an empty cache."""
    folder = tmp_path_factory.mktemp("cold")
    params = write_params(folder)
    cache = folder / "cache"
    summary = run(params, folder / "out", prepared, cache)
    return folder, params, cache, summary


def test_a_cold_run_trains_every_run_and_stores_each(cold):
    folder, _, cache, summary = cold
    assert (summary["trained"], summary["restored"]) == (3, 0)
    store = runcache.RunCache(cache)
    try:
        listed = store.summary()
    finally:
        store.close()
    assert listed["runs"] == 3 and listed["experiments"]["e"]["runs"] == 3 and listed["bytes"] > 0


def test_a_cached_run_is_restored_byte_for_byte_and_its_mlflow_run_names_the_original(cold, prepared, tmp_path):
    import mlflow

    folder, _, cache, first = cold
    params = write_params(tmp_path)  # a store of its own: other tests restore the same runs into the cold one's
    again = run(params, tmp_path / "out", prepared, cache)
    assert (again["trained"], again["restored"]) == (0, 3)
    assert files(tmp_path / "out") == files(folder / "out")  # every byte, train.json's clock included
    originals = {(r["condition"], r["seed"]): r["mlflow_run_id"] for r in first["runs"]}
    client = mlflow.MlflowClient(load_params(params).mlflow.tracking_uri)
    for record in again["runs"]:
        origin = record["restored_from"]
        assert origin["mlflow_run_id"] == originals[(record["condition"], record["seed"])]
        restored = client.search_runs([client.get_experiment_by_name("ganpipe").experiment_id],
                                      f"tags.`ganpipe.restored_from_run` = '{origin['mlflow_run_id']}'")
        assert len(restored) == 1 and restored[0].data.tags["ganpipe.restored"] == "true"
        assert "g_loss" in restored[0].data.metrics  # the original run's metrics, replayed onto it


def test_a_restored_run_is_the_run_trained_afresh(cold, prepared, tmp_path):
    folder, params, _, _ = cold
    run(params, tmp_path / "fresh", prepared, None)  # the cache off: every run trains
    assert files(tmp_path / "fresh", drop_clock=True) == files(folder / "out", drop_clock=True)


def test_one_more_map_cell_or_seed_trains_only_its_own_runs(cold, prepared, tmp_path):
    cache = tmp_path / "cache"
    shutil.copytree(cold[2], cache)
    grown = {**EXPERIMENT, "map": [{"output": ["sigmoid"]}, {"lr_g": [1.0e-3]}]}
    summary = run(write_params(tmp_path, grown), tmp_path / "cell", prepared, cache)
    assert (summary["trained"], summary["restored"]) == (1, 3)
    assert [r["condition"] for r in summary["runs"] if "restored_from" not in r] == ["lr_g=0.001"]
    summary = run(write_params(tmp_path, seeds=(0, 1, 2)), tmp_path / "seed", prepared, cache)
    assert [(r["condition"], r["seed"]) for r in summary["runs"] if "restored_from" not in r] == [("base", 2)]
    own = {**EXPERIMENT, "seeds": [0, 1]}  # seeds of its own, as F1's arm: one more findings seed is not its
    run(write_params(tmp_path, own, seeds=(0, 1)), tmp_path / "own", prepared, cache)
    summary = run(write_params(tmp_path, own, seeds=(0, 1, 2)), tmp_path / "own_again", prepared, cache)
    assert (summary["trained"], summary["restored"]) == (0, 3)


def test_everything_a_run_depends_on_is_in_its_key(cold, prepared, tmp_path, monkeypatch):
    from ganpipe.training import loop

    machine = runcache.Machine.here(prepared)
    identity = runcache.run_identity(load_params(cold[1]).findings.experiments["e"], 0, 32, "cpu")
    base = runcache.key(identity, machine)
    assert base == runcache.key(identity, runcache.Machine.here(prepared))  # the same run, the same key
    changed = [
        runcache.key({**identity, "seed": 1}, machine),
        runcache.key({**identity, "config": {**identity["config"], "lr_g": 1e-3}}, machine),
        runcache.key({**identity, "n_samples": 64}, machine),
        runcache.key(identity, runcache.Machine(**{**machine.__dict__, "torch": "2.13.0"})),
        runcache.key(identity, runcache.Machine(**{**machine.__dict__, "floats": "x86_64 GenuineIntel; torch kernels AVX2"})),
    ]
    data = tmp_path / "mnist.npz"
    data.write_bytes(prepared.read_bytes() + b"\0")
    changed.append(runcache.key(identity, runcache.Machine.here(data)))
    edited = tmp_path / "loop.py"  # a training module with one more line
    edited.write_text(Path(loop.__file__).read_text() + "\n# changed\n")
    monkeypatch.setattr(loop, "__file__", str(edited))
    changed.append(runcache.key(identity, runcache.Machine.here(prepared)))
    assert len({base, *changed}) == len(changed) + 1


def test_the_float_identity_names_the_cpu_kind_and_torch_kernels():
    import torch

    identity = runcache.float_identity()
    assert torch.backends.cpu.get_cpu_capability() in identity
    assert identity == runcache.float_identity()


def _entry_files(cache: Path) -> list[Path]:
    """diskcache's value files (an entry's files and meta are pickled into them)."""
    return sorted(cache.rglob("*.val"), key=lambda p: p.stat().st_size)


@pytest.mark.parametrize("damage", ["flipped", "cut"])
def test_a_corrupt_or_cut_entry_is_said_in_one_line_trained_again_and_never_used(cold, prepared, tmp_path, capfd, damage):
    folder, params, cache, _ = cold
    copy = tmp_path / "cache"
    shutil.copytree(cache, copy)
    biggest = _entry_files(copy)[-1]  # the largest value: one run's files
    data = bytearray(biggest.read_bytes())
    if damage == "flipped":
        middle = len(data) // 2
        data[middle : middle + 64] = bytes(b ^ 0xFF for b in data[middle : middle + 64])
    else:
        data = data[: len(data) // 3]
    biggest.write_bytes(bytes(data))
    summary = run(params, tmp_path / "out", prepared, copy)
    err = capfd.readouterr().err
    said = [line for line in err.splitlines() if "run cache entry" in line]
    assert len(said) == 1 and "training it again" in said[0], err
    assert (summary["trained"], summary["restored"]) == (1, 2)
    assert files(tmp_path / "out", drop_clock=True) == files(folder / "out", drop_clock=True)
    again = run(params, tmp_path / "again", prepared, copy)  # stored whole again
    assert (again["trained"], again["restored"]) == (0, 3)


def _put(cache: Path, folder: Path, barrier) -> None:
    store = runcache.RunCache(cache)
    barrier.wait()
    for _ in range(5):
        store.put("k" * 64, folder, {"experiment": "e", "label": "e base seed 0"})
    store.close()


def test_two_writers_of_one_key_leave_one_whole_entry(tmp_path):
    folders = []
    for name, size in (("a", 300_000), ("b", 200_000)):
        folder = tmp_path / name
        (folder / "grids").mkdir(parents=True)
        (folder / "generator.pt").write_bytes(bytes([ord(name)]) * size)
        (folder / "grids" / "step_000001.png").write_bytes(name.encode() * 1000)
        folders.append(folder)
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(2)
    writers = [ctx.Process(target=_put, args=(tmp_path / "cache", folder, barrier)) for folder in folders]
    for w in writers:
        w.start()
    for w in writers:
        w.join(120)
        assert w.exitcode == 0
    store = runcache.RunCache(tmp_path / "cache")
    try:
        meta, got = store.get("k" * 64)
    finally:
        store.close()
    assert got in (runcache.read_folder(folders[0]), runcache.read_folder(folders[1]))


def test_the_cache_folder_is_set_by_the_environment_and_can_be_off(monkeypatch, tmp_path):
    monkeypatch.setenv(runcache.ENV, str(tmp_path / "shared"))
    assert runcache.folder() == tmp_path / "shared"
    monkeypatch.setenv(runcache.ENV, "off")
    assert runcache.folder() is None
    monkeypatch.delenv(runcache.ENV)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert runcache.folder() == tmp_path / "xdg" / "ganpipe" / "runs"


def test_ganpipe_cache_lists_by_experiment_and_prunes_what_params_no_longer_names(cold, prepared, tmp_path, monkeypatch):
    folder, params, cache, _ = cold
    copy = tmp_path / "cache"
    shutil.copytree(cache, copy)
    monkeypatch.setenv(runcache.ENV, str(copy))
    listed = cli("cache", "list")
    assert listed.returncode == 0 and "3 runs" in listed.stdout and "e " in listed.stdout
    assert json.loads(cli("cache", "list", "--json").stdout)["experiments"]["e"]["runs"] == 3
    fewer = write_params(tmp_path, seeds=(0,))  # seed 1 of the experiment's own setting is no longer named
    pruned = cli("cache", "prune", "--params", str(fewer))
    assert pruned.returncode == 0 and "dropped 1 of 3 runs" in pruned.stdout, pruned.stdout + pruned.stderr
    assert "2 left" in pruned.stdout
    assert "dropped 2 of 2" in cli("cache", "prune", "--all", "--params", str(fewer)).stdout
    monkeypatch.setenv(runcache.ENV, "off")
    off = cli("cache", "list")
    assert off.returncode == 1 and off.stderr.count("\n") == 1 and "off" in off.stderr


def test_the_report_counts_the_restored_runs_and_names_where_they_first_trained(tmp_path):
    from ganpipe.pipeline.report import restored_runs
    from ganpipe.report.render import restored

    out = tmp_path / "experiments"
    (out / "a").mkdir(parents=True)
    (out / "b").mkdir()
    origin = {"mlflow_run_id": "r", "commit": "0123456789abcdef", "tree_changed": False}
    (out / "a" / "experiment.json").write_text(json.dumps({"runs": [{"restored_from": origin}, {}]}))
    (out / "b" / "experiment.json").write_text(json.dumps({"runs": [{"restored_from": origin}]}))
    counted = restored_runs(tmp_path, ["a", "b"])
    assert counted == {"runs": 3, "restored": 2, "first_trained_at": {"0123456789ab": 2}}
    assert restored(counted) == "2 of 3, first trained at 0123456789ab (2)"
    assert restored({"runs": 3, "restored": 0, "first_trained_at": {}}).startswith("none of 3")


def test_the_progress_line_says_what_is_restored_what_trains_and_the_time_left(monkeypatch):
    from ganpipe.running import progress

    clock = [100.0]
    monkeypatch.setattr(progress.time, "monotonic", lambda: clock[0])
    watched = progress.Progress("experiment e", 8, live=False)
    watched.from_cache(5)
    watched.step("e base seed 0", 100, 1000)
    watched.step("e base seed 1", 300, 1000)
    clock[0] += 60
    watched.step("e base seed 0", 200, 1000)  # 100 steps a minute: 8 minutes left
    watched.step("e base seed 1", 600, 1000)
    line = watched.line()
    assert line.startswith("experiment e: 5/8 runs done (5 from the run cache, 3 to train)")
    assert "the furthest behind: e base seed 0 at step 200/1000" in line and "about 8 min left" in line


@pytest.mark.slow
def test_dvc_repro_after_one_more_seed_trains_only_that_seed(tmp_path, monkeypatch):
    """The real `dvc repro`, which deletes a stage's outputs before it runs: the stage's runs come
    back from the cache, and only the new seed's run trains."""
    from conftest import GIT, dvc, tiny_project

    monkeypatch.setenv(runcache.ENV, str(tmp_path / "cache"))
    repo = tiny_project(tmp_path / "repo", {"evaluate": {"n_samples": 32},
                                             "findings": {"seeds": [0, 1], "map_seeds": [0], "experiments": {"e": EXPERIMENT}}})
    first = dvc("repro", "experiment@e", cwd=repo)
    assert first.returncode == 0, first.stdout[-2000:] + first.stderr[-2000:]
    assert "3 runs, 0 restored from the run cache" in first.stderr + first.stdout
    study = yaml.safe_load((repo / "findings.yaml").read_text())
    study["findings"]["seeds"] = [0, 1, 2]
    (repo / "findings.yaml").write_text(yaml.safe_dump(study, sort_keys=False))
    import subprocess

    subprocess.run([*GIT, "commit", "-qam", "one more seed"], cwd=repo, check=True)
    second = dvc("repro", "experiment@e", cwd=repo)
    assert second.returncode == 0, second.stdout[-2000:] + second.stderr[-2000:]
    summary = json.loads((repo / "stages" / "experiments" / "e" / "experiment.json").read_text())
    assert (summary["trained"], summary["restored"]) == (1, 3)
    assert [(r["condition"], r["seed"]) for r in summary["runs"] if "restored_from" not in r] == [("base", 2)]
    assert {r["restored_from"]["commit"] for r in summary["runs"] if "restored_from" in r} == {
        subprocess.run(["git", "rev-parse", "HEAD~1"], cwd=repo, capture_output=True, text=True).stdout.strip()}
