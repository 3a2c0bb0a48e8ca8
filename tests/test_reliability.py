"""Faults and bad input, as a user meets them (docs/design.md section 7).

Mutated params (property-based), corrupt input files, SIGTERM/SIGINT mid-training and resume,
three DVC experiments in parallel on one sqlite MLflow store, a re-run experiment reproducing its
metrics, an MLflow server that dies mid-run, and the security defaults (loopback UI, no pickles).
"""

from __future__ import annotations

import ast
import copy
import json
import os
import shutil
import signal
import string
import subprocess
import sys
import time
import typing
from pathlib import Path

import annotated_types
import numpy as np
import pytest
import torch
import yaml
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from conftest import ROOT, cli, dvc, free_port, project_params, stop_group, wait_healthy
from ganpipe.params import GANExperiment, Params, ParamsError, WGANExperiment, load_params, parse_params

PROJECT = project_params()
SETTINGS = settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])


# --- 1. params.yaml, mutated one leaf at a time -------------------------------------------------


def leaves(obj, path=()):
    if isinstance(obj, dict):
        for key, value in obj.items():
            yield from leaves(value, (*path, key))
    elif isinstance(obj, list):
        for i, value in enumerate(obj):
            yield from leaves(value, (*path, i))
    else:
        yield path


def mappings(obj, path=()):
    """Paths of the mappings whose keys are checked (not findings.experiments: its keys are names;
    not a condition map: its keys are knobs, tested in test_conditions)."""
    if isinstance(obj, dict):
        if path != ("findings", "experiments") and "map" not in path:
            yield path
        for key, value in obj.items():
            yield from mappings(value, (*path, key))


def listed(path: tuple) -> bool:
    """Items of the seed lists, of condition maps and their confirm lists and of the controls' dose
    ladders: checked by their own tests (test_conditions, test_controls)."""
    return "map" in path or "confirm" in path or (len(path) > 1 and (path[-2] in ("seeds", "map_seeds") or path[:2] == ("findings", "controls")))


LEAVES = [p for p in leaves(PROJECT) if not listed(p)]
MAPPINGS = list(mappings(PROJECT))


def model_at(path: tuple):
    """The pydantic model that validates the mapping at `path` of params.yaml."""
    model = Params
    i = 0
    while i < len(path):
        if path[i] == "experiments":
            kind = PROJECT["findings"]["experiments"][path[i + 1]]["model"]
            model, i = (GANExperiment if kind == "gan" else WGANExperiment), i + 2
        else:
            model, i = model.model_fields[path[i]].annotation, i + 1
    return model


def field_at(path: tuple):
    """The field that validates the leaf at `path`; None for an upsample kernel (a tuple element)."""
    if len(path) > 1 and path[-2] == "upsample_kernels":
        return None
    return model_at(path[:-1]).model_fields[path[-1]]


def kind_of(path: tuple) -> str:
    info = field_at(path)
    if info is None:
        return "kernel"
    if typing.get_origin(info.annotation) is typing.Literal:
        return "literal"
    return {bool: "bool", int: "int", float: "float"}.get(info.annotation, "text")  # text: str, str | None


def bounds(path: tuple) -> tuple:
    lo = hi = None
    lo_open = hi_open = False
    for m in field_at(path).metadata:
        if isinstance(m, annotated_types.Gt):
            lo, lo_open = m.gt, True
        elif isinstance(m, annotated_types.Ge):
            lo = m.ge
        elif isinstance(m, annotated_types.Lt):
            hi, hi_open = m.lt, True
        elif isinstance(m, annotated_types.Le):
            hi = m.le
    return lo, lo_open, hi, hi_open


def with_value(path: tuple, value) -> dict:
    raw = copy.deepcopy(PROJECT)
    node = raw
    for part in path[:-1]:
        node = node[part]
    node[path[-1]] = value
    return raw


def dotted(path: tuple) -> str:
    return ".".join(str(p) for p in path)


CONTAINERS = st.one_of(st.lists(st.integers(), max_size=3), st.dictionaries(st.sampled_from("abc"), st.integers(), max_size=2))
WORDS = st.text(alphabet=string.ascii_letters + "_-", min_size=1, max_size=12)
NOT_A_NUMBER = WORDS.filter(lambda s: s.lower() not in {"inf", "infinity", "nan"})
NOT_A_BOOL = WORDS.filter(lambda s: s.lower() not in {"0", "1", "t", "f", "y", "n", "true", "false", "yes", "no", "on", "off"})
NUMBERS = st.one_of(st.integers(), st.floats(allow_nan=False))


def invalid_value(path: tuple) -> st.SearchStrategy:
    """Values that must be refused at this leaf: wrong type, out of range, unknown choice, even kernel."""
    kind = kind_of(path)
    options = [CONTAINERS]
    if kind == "kernel":
        options += [st.integers(min_value=0, max_value=10).filter(lambda k: k % 2 == 0),
                    st.integers(min_value=10), st.integers(max_value=0), NOT_A_NUMBER]
    elif kind == "literal":
        allowed = typing.get_args(field_at(path).annotation)
        options += [WORDS.filter(lambda s: s not in allowed), st.integers()]
    elif kind == "bool":
        options += [NOT_A_BOOL, st.integers().filter(lambda i: i not in (0, 1))]
    elif kind == "text":
        options += [NUMBERS]
    else:
        lo, lo_open, hi, hi_open = bounds(path)
        options.append(NOT_A_NUMBER)
        if kind == "int":
            options.append(st.floats(min_value=-1e6, max_value=1e6).filter(lambda x: x != int(x)))  # fractional
            if lo is not None:
                options.append(st.integers(max_value=lo if lo_open else lo - 1))
            if hi is not None:
                options.append(st.integers(min_value=hi if hi_open else hi + 1))
        else:
            options.append(st.just(float("nan")))
            if lo is not None:
                options.append(st.floats(max_value=lo, exclude_max=not lo_open))
            if hi is not None:
                options.append(st.floats(min_value=hi, exclude_min=not hi_open))
    return st.one_of(options)


def valid_value(path: tuple) -> st.SearchStrategy:
    kind = kind_of(path)
    if kind == "kernel":
        return st.sampled_from([1, 3, 5, 7, 9])
    if kind == "literal":
        return st.sampled_from(typing.get_args(field_at(path).annotation))
    if kind == "bool":
        return st.booleans()
    if kind == "text":
        return st.one_of(st.none(), st.text(max_size=20)) if field_at(path).annotation != str else st.text(max_size=20)
    lo, lo_open, hi, hi_open = bounds(path)
    if kind == "int":
        low = lo + 1 if lo_open else lo
        return st.integers(min_value=low, max_value=(hi - 1 if hi_open else hi) if hi is not None else low + 10**6)
    return st.floats(min_value=lo, max_value=hi if hi is not None else 1e6, exclude_min=lo_open, exclude_max=hi_open,
                     allow_nan=False, allow_infinity=False)


def value_at(params: Params, path: tuple):
    node = params
    for part in path:
        node = node[part] if isinstance(node, (dict, tuple)) else getattr(node, part)
    return node


@SETTINGS
@given(st.data())
def test_an_invalid_leaf_is_refused_naming_its_key(data):
    path = data.draw(st.sampled_from(LEAVES), label="leaf")
    value = data.draw(invalid_value(path), label="value")
    with pytest.raises(ParamsError) as err:
        parse_params(with_value(path, value), "params.yaml")
    msg = str(err.value)
    assert "\n" not in msg and msg.startswith("params.yaml: ")
    key = dotted(path)
    if path[:2] == ("findings", "experiments") and path[-1] == "model":
        # the tag that picks gan or wgan: pydantic reports it at the experiment, naming 'model'
        assert f"{dotted(path[:-1])} = " in msg and "'model'" in msg, msg
    else:
        assert f"{key} = " in msg and "is not allowed" in msg, msg


@SETTINGS
@given(st.data())
def test_an_unknown_key_is_refused_naming_it(data):
    path = data.draw(st.sampled_from(MAPPINGS), label="mapping")
    fields = model_at(path).model_fields
    name = data.draw(st.from_regex(r"[a-z][a-z0-9_]{0,12}", fullmatch=True).filter(lambda k: k not in fields), label="key")
    raw = copy.deepcopy(PROJECT)
    node = raw
    for part in path:
        node = node[part]
    node[name] = data.draw(st.one_of(st.integers(), WORDS), label="value")
    with pytest.raises(ParamsError, match="unknown key") as err:
        parse_params(raw, "params.yaml")
    assert f"unknown key '{dotted((*path, name))}'" in str(err.value)


def map_values(condition_map, knob: str) -> set:
    """Every value a condition map gives `knob`: a grid's lists, or named cells' single values."""
    named = isinstance(condition_map, dict) and condition_map and all(isinstance(v, dict) for v in condition_map.values())
    cells = list(condition_map.values()) if named else condition_map if isinstance(condition_map, list) else [condition_map]
    found = set()
    for cell in cells:
        value = cell.get(knob, [])
        found |= set(value if isinstance(value, list) else [value])
    return found


@SETTINGS
@given(st.data())
def test_a_valid_leaf_is_accepted_as_given(data):
    path = data.draw(st.sampled_from([p for p in LEAVES if p[-1] != "model"]), label="leaf")
    value = data.draw(valid_value(path), label="value")
    # the one check across keys: an upsample generator draws 28 x 28 only, so it cannot join an
    # experiment whose map tries 56 (refused with its own line: test_conditions)
    exp = PROJECT["findings"]["experiments"].get(path[2], {}) if path[:2] == ("findings", "experiments") else {}
    sizes = map_values(exp.get("map") or [], "image_size")
    assume(not (path[-1] == "generator" and value == "upsample" and 56 in sizes))
    params = parse_params(with_value(path, value), "params.yaml")
    assert value_at(params, path) == value


@pytest.mark.parametrize("command,override,key", [
    ("prepare", {"findings": {"experiments": {"f5_upsample": {"upsample_kernels": [3, 4]}}}},
     "findings.experiments.f5_upsample.upsample_kernels.1 = 4"),
    ("train-wgan", {"wgan": {"clip": -0.01}}, "wgan.clip = -0.01"),
])
def test_cli_refuses_bad_params_before_any_work(tmp_path, params_file, command, override, key):
    out = tmp_path / "out"
    r = cli(command, "--params", str(params_file(override)), "--out", str(out))
    assert r.returncode == 2
    assert r.stderr.count("\n") == 1 and key in r.stderr and "Traceback" not in r.stderr, r.stderr
    assert not out.exists() and not (tmp_path / "mlflow.db").exists()


# --- 2. corrupt inputs: one line naming the file, exit 1 ----------------------------------------

GAN_TINY = {"steps": 6, "batch_size": 8, "log_every": 2, "grid_every": 3, "checkpoint_every": 3, "generator": "fc"}


def one_error_line(r) -> str:
    lines = [line for line in r.stderr.splitlines() if line.startswith("error: ")]
    assert len(lines) == 1 and "Traceback" not in r.stderr, r.stderr
    return lines[0]


@pytest.mark.parametrize("corruption", ["truncated", "garbage"])
def test_corrupt_npz_for_training_is_named(tmp_path, params_file, prepared, corruption):
    bad = tmp_path / f"{corruption}.npz"
    raw = prepared.read_bytes()
    bad.write_bytes(raw[: len(raw) // 2] if corruption == "truncated" else os.urandom(4096))
    out = tmp_path / "gan"
    r = cli("train-gan", "--params", str(params_file({"gan": GAN_TINY})), "--out", str(out), "--data", str(bad))
    assert r.returncode == 1
    line = one_error_line(r)
    assert str(bad) in line and "not a readable .npz file" in line and "pickle" not in line
    assert not out.exists()


def test_idx_with_a_bad_magic_number_is_named(tmp_path, params_file):
    folder = tmp_path / "idx"
    folder.mkdir()
    images = folder / "train-images-idx3-ubyte"
    images.write_bytes(b"\x12\x34\x08\x03" + (1).to_bytes(4, "big") + (28).to_bytes(4, "big") * 2 + bytes(784))
    (folder / "train-labels-idx1-ubyte").write_bytes(b"\x00\x00\x08\x01" + (1).to_bytes(4, "big") + b"\x07")
    out = tmp_path / "prep"
    r = cli("prepare", "--params", str(params_file({"data": {"source": "idx", "path": str(folder)}})), "--out", str(out))
    assert r.returncode == 1
    line = one_error_line(r)
    assert str(images) in line and "bad IDX magic number 12340803" in line
    assert not out.exists()


def test_checkpoint_of_other_params_is_refused_and_kept(tmp_path, params_file, prepared):
    from ganpipe.data.images import to_tensor
    from ganpipe.data.mnist import load_split
    from ganpipe.training.loop import Interrupted, fit
    from ganpipe.training.objectives import build
    from ganpipe.training.run import checkpoint_path

    path = params_file({"gan": GAN_TINY})
    params = load_params(path)
    out = tmp_path / "stages" / "gan"
    ckpt = checkpoint_path(out, "gan", params.digest_of(params.gan))  # where this run looks for its checkpoint
    ckpt.parent.mkdir(parents=True)
    data = to_tensor(load_split(prepared, "train").images[:256])
    with pytest.raises(Interrupted):  # a real checkpoint, of a run with other params (another digest)
        fit(build("gan", params.gan), data, params.gan, seed=1, digest="0123456789ab", checkpoint=ckpt,
            should_stop=lambda step: step == 2)
    r = cli("train-gan", "--params", str(path), "--out", str(out), "--data", str(prepared))
    assert r.returncode == 1
    line = one_error_line(r)
    assert str(ckpt) in line and "written with other params" in line and "--fresh" in line
    assert ckpt.exists() and not (out / "generator.pt").exists()


class Payload:
    """Pickles as a call to exec: whoever unpickles it with plain pickle runs the code."""

    def __init__(self, marker: Path):
        self.code = f"import pathlib; pathlib.Path({str(marker)!r}).write_text('pwned')"

    def __reduce__(self):
        return (exec, (self.code,))


@pytest.mark.parametrize("command", ["score", "evaluate"])
def test_tampered_classifier_is_refused_and_runs_no_code(tmp_path, params_file, prepared, command):
    evil, marker = tmp_path / "classifier.pt", tmp_path / "pwned"
    torch.save({"conv.weight": torch.zeros(1), "extra": Payload(marker)}, evil)
    # control: the payload is live (plain unpickling, in another process, runs it)
    subprocess.run([sys.executable, "-c", f"import torch; torch.load({str(evil)!r}, weights_only=False)"],
                   check=True, capture_output=True)
    assert marker.read_text() == "pwned"
    marker.unlink()

    if command == "score":
        r = cli("score", str(prepared), str(prepared), "--classifier", str(evil))
    else:
        r = cli("evaluate", "--params", str(params_file()), "--out", str(tmp_path / "eval"), "--data", str(prepared),
                "--classifier", str(evil), "--stages", str(tmp_path / "no-stages"))
    assert r.returncode == 1
    line = one_error_line(r)
    assert str(evil) in line and "refused by the safe loader" in line and "weights_only` set to `False`" not in line
    assert not marker.exists(), "the payload ran"
    assert not (tmp_path / "eval").exists()


def test_png_folder_with_one_wrong_size_names_that_image(tmp_path, prepared):
    from PIL import Image

    folder = tmp_path / "pngs"
    folder.mkdir()
    for name, size in (("a", 28), ("b", 28), ("c", 32), ("d", 28)):
        Image.fromarray(np.zeros((size, size), np.uint8)).save(folder / f"{name}.png")
    r = cli("score", str(folder), str(prepared), "--classifier", str(tmp_path / "unused.pt"))
    assert r.returncode == 1
    assert f"{folder / 'c.png'}: image is 32x32, expected 28x28 grey" in one_error_line(r)


# --- 3. SIGTERM / SIGINT mid-training, then resume ----------------------------------------------

# long enough to be caught between its first checkpoint (step 5) and its end, short enough to run twice
INTERRUPTIBLE = {"steps": 40, "batch_size": 8, "log_every": 5, "grid_every": 5, "checkpoint_every": 5}
NETS = {"gan": ("generator.pt", "discriminator.pt"), "wgan": ("generator.pt", "critic.pt")}


def train_args(model: str, params: Path, out: Path, data: Path) -> list[str]:
    return [f"train-{model}", "--params", str(params), "--out", str(out), "--data", str(data)]


def train_cmd(model: str, params: Path, out: Path, data: Path) -> list[str]:
    return [sys.executable, "-m", "ganpipe", *train_args(model, params, out, data)]


@pytest.mark.parametrize("model,sig,cfg", [
    ("gan", signal.SIGTERM, {"generator": "fc"}),
    ("wgan", signal.SIGINT, {"generator": "fc", "n_critic": 2}),
])
def test_interrupted_stage_keeps_its_checkpoint_and_resumes_to_the_same_weights(tmp_path, params_file, prepared,
                                                                               model, sig, cfg):
    path = params_file({model: {**INTERRUPTIBLE, **cfg}, "evaluate": {"n_samples": 50}})
    out, straight = tmp_path / "a" / model, tmp_path / "b" / model
    reference = subprocess.Popen(train_cmd(model, path, straight, prepared), stdout=subprocess.PIPE,
                                 stderr=subprocess.PIPE, text=True)  # the uninterrupted run, alongside
    proc = subprocess.Popen(train_cmd(model, path, out, prepared), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    checkpoints = out.parent / ".checkpoints"
    deadline = time.time() + 240
    while not list(checkpoints.glob("*.pt")):
        assert proc.poll() is None, f"ended before its first checkpoint: {proc.communicate()}"
        assert time.time() < deadline, "no checkpoint within 240 s"
        time.sleep(0.005)
    proc.send_signal(sig)
    _, stderr = proc.communicate(timeout=240)
    assert proc.returncode == 130, stderr
    line = [x for x in stderr.splitlines() if x.startswith("error: ")]
    assert len(line) == 1 and "interrupted at step" in line[0] and "is kept" in line[0] and "Traceback" not in stderr
    assert not any((out / f).exists() for f in (*NETS[model], "samples.npz", "history.csv", "train.json"))
    assert not list(out.parent.rglob("*.tmp"))  # (not tmp_path: the reference run is still writing)
    (ckpt,) = checkpoints.glob("*.pt")
    shutil.rmtree(out, ignore_errors=True)  # as `dvc repro` clears a stage's outputs before running it

    resumed = cli(*train_args(model, path, out, prepared))
    assert resumed.returncode == 0, resumed.stderr
    timing = json.loads((out / "train.json").read_text())
    assert timing["resumed_from"] > 0 and timing["steps_run"] == INTERRUPTIBLE["steps"] - timing["resumed_from"]
    assert not ckpt.exists()  # removed once the stage completes

    assert reference.wait(timeout=600) == 0, reference.communicate()
    assert json.loads((straight / "train.json").read_text())["resumed_from"] == 0
    for name in NETS[model]:
        a = torch.load(out / name, weights_only=True)
        b = torch.load(straight / name, weights_only=True)
        assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a), name
    assert (out / "history.csv").read_text() == (straight / "history.csv").read_text()
    with np.load(out / "samples.npz") as sa, np.load(straight / "samples.npz") as sb:
        assert np.array_equal(sa["images"], sb["images"])
    # every grid, those from before the interrupt included
    assert sorted(p.name for p in (out / "grids").glob("*.png")) == sorted(p.name for p in (straight / "grids").glob("*.png"))


# --- 4 and 5. parallel DVC experiments on one MLflow store; a re-run experiment reproduces -------

CLIPS = ("0.005", "0.02")  # two at a time: both run at once


@pytest.fixture(scope="module")
def queued(e2e):
    """The shared tiny end-to-end repro (its results committed), then two clip values queued and
    run at once."""
    repo = e2e.repo

    for clip in CLIPS:
        q = dvc("exp", "run", "--queue", "-n", f"clip-{clip}", "-S", f"wgan.clip={clip}", "evaluate", cwd=repo)
        assert q.returncode == 0, q.stderr
    started = time.time()
    start = dvc("queue", "start", "-j", "2", cwd=repo)
    assert start.returncode == 0, start.stderr
    while True:  # workers run in the background; `dvc queue status` lists Queued/Running until done
        status = dvc("queue", "status", cwd=repo, timeout=60).stdout
        if not any(word in status for word in ("Queued", "Running")):
            break
        if time.time() - started > 600:
            dvc("queue", "stop", "--kill", cwd=repo)
            pytest.fail(f"queue not finished after 600 s:\n{status}")
        time.sleep(2)
    logs = {clip: dvc("queue", "logs", f"clip-{clip}", cwd=repo, timeout=60).stdout for clip in CLIPS}
    yield repo, status, logs
    dvc("queue", "stop", cwd=repo, timeout=60)


def experiments(repo: Path) -> dict[str, dict]:
    shown = dvc("exp", "show", "--json", cwd=repo, timeout=120)
    assert shown.returncode == 0, shown.stderr
    baseline = [row for row in json.loads(shown.stdout) if row["rev"] != "workspace"][0]
    return {exp["name"]: exp["revs"][0] for exp in baseline["experiments"] or []}


@pytest.mark.slow
def test_parallel_queued_experiments_share_one_store(queued):
    from mlflow.tracking import MlflowClient

    repo, status, logs = queued
    for clip in CLIPS:
        assert f"clip-{clip}" in status and "Failed" not in status, status
        assert "database is locked" not in logs[clip] and "Traceback" not in logs[clip], logs[clip][-2000:]
    exps = experiments(repo)
    assert {f"clip-{c}" for c in CLIPS} <= exps.keys()
    for clip in CLIPS:
        data = exps[f"clip-{clip}"]["data"]
        assert data["params"]["params.yaml"]["data"]["wgan"]["clip"] == float(clip)
        assert data["metrics"]["stages/evaluate/summary.json"]["data"]["wgan"]["fid"] > 0

    client = MlflowClient(tracking_uri=f"sqlite:///{repo / 'mlflow.db'}")
    exp = client.get_experiment_by_name("ganpipe")
    runs = client.search_runs([exp.experiment_id], filter_string="tags.stage = 'train-wgan'")
    queued_names = {f"clip-{c}" for c in CLIPS}  # the shared repo holds other experiments' runs too
    by_clip = {r.data.params["wgan.clip"]: r for r in runs if r.data.tags.get("dvc_exp_name") in queued_names}
    assert sorted(by_clip) == sorted(CLIPS)
    for clip, run in by_clip.items():
        assert run.info.status == "FINISHED"
        assert run.data.tags["dvc_exp_name"] == f"clip-{clip}"
        artifacts = Path(run.info.artifact_uri.removeprefix("file://"))
        assert artifacts.is_relative_to(repo / "mlartifacts"), artifacts  # the real repo, not the temp copy
        assert (artifacts / "grid.png").is_file() and list((artifacts / "grids").glob("step_*.png"))
    evaluated = client.search_runs([exp.experiment_id], filter_string="tags.stage = 'evaluate'")
    assert {r.data.tags.get("dvc_exp_name") for r in evaluated} >= {f"clip-{c}" for c in CLIPS}
    assert all(r.info.status == "FINISHED" for r in evaluated)


@pytest.mark.slow
def test_rerun_experiment_reproduces_its_metrics(queued):
    repo, _, _ = queued
    clip = CLIPS[1]
    # -f -s: really run the two stages again (not restored from DVC's run cache), in the workspace
    again = dvc("exp", "run", "-f", "-s", "-n", "again", "-S", f"wgan.clip={clip}", "train@wgan", "evaluate", cwd=repo)
    assert again.returncode == 0, again.stderr[-2000:]
    assert "Running stage 'train@wgan'" in again.stdout and "Running stage 'evaluate'" in again.stdout
    exps = experiments(repo)
    first, second = (exps[name]["rev"] for name in (f"clip-{clip}", "again"))
    show = [subprocess.run(["git", "show", f"{rev}:stages/evaluate/metrics.json"], cwd=repo, capture_output=True,
                           text=True, check=True).stdout for rev in (first, second)]
    assert show[0] == show[1] and json.loads(show[0])["wgan"]["fid"] > 0


def test_parallel_first_use_of_a_fresh_store(tmp_path, params_file):
    """Three stages opening one new mlflow.db at once: all succeed (its tables are created once)."""
    path = params_file()
    procs = [subprocess.Popen([sys.executable, "-m", "ganpipe", "prepare", "--params", str(path), "--out",
                               str(tmp_path / f"out{i}")], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for i in range(3)]
    results = [(p.wait(timeout=300), p.communicate()[1]) for p in procs]
    assert all(code == 0 for code, _ in results), [err[-1500:] for _, err in results]
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=f"sqlite:///{tmp_path / 'mlflow.db'}")
    runs = client.search_runs([client.get_experiment_by_name("ganpipe").experiment_id])
    assert len(runs) == 3 and all(r.info.status == "FINISHED" for r in runs)


# --- 6. the MLflow server dies mid-run ----------------------------------------------------------


@pytest.mark.slow
def test_server_stopped_mid_run_keeps_outputs_and_fails_naming_the_uri(tmp_path, params_file, prepared):
    folder = tmp_path / "server"
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "mlflow", "server", "--backend-store-uri", f"sqlite:///{folder / 'db.sqlite'}",
         "--artifacts-destination", str(folder / "artifacts"), "--host", "127.0.0.1", "--port", str(port),
         "--workers", "1"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    uri = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(uri, server)
        path = params_file({"gan": {**INTERRUPTIBLE, "generator": "fc", "grid_every": 10},
                            "evaluate": {"n_samples": 50}, "mlflow": {"tracking_uri": uri, "experiment": "midrun"}})
        out = tmp_path / "stages" / "gan"
        proc = subprocess.Popen(train_cmd("gan", path, out, prepared), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True)
        deadline = time.time() + 240
        while not list((out.parent / ".checkpoints").glob("*.pt")):
            assert proc.poll() is None, proc.communicate()
            assert time.time() < deadline
            time.sleep(0.01)
        stop_group(server, signal.SIGKILL)
        _, stderr = proc.communicate(timeout=300)
    finally:
        stop_group(server, signal.SIGKILL)
    assert proc.returncode == 1, stderr
    line = [x for x in stderr.splitlines() if x.startswith("error: ")]
    assert len(line) == 1 and "Traceback" not in stderr, stderr
    assert uri in line[0] and "failed mid-run" in line[0] and "outputs are written" in line[0]
    for name in ("generator.pt", "discriminator.pt", "samples.npz", "history.csv", "train.json", "grid.png"):
        assert (out / name).is_file(), name
    assert not list(out.parent.rglob("*.tmp"))
    assert list((out.parent / ".checkpoints").glob("*.pt"))  # kept: DVC will re-run the stage, which resumes


# --- 7. security defaults -----------------------------------------------------------------------


def test_ui_binds_loopback_by_default():
    """The defaults; tests/test_ui.py checks the running server's socket."""
    import typer.main

    from ganpipe.cli import app

    ui = typer.main.get_command(app).commands["ui"]
    (host,) = [p for p in ui.params if p.name == "host"]
    assert host.default == "127.0.0.1"
    (workers,) = [p for p in ui.params if p.name == "workers"]
    assert workers.default == 1  # one reader's UI: not MLflow's four server processes
    assert "127.0.0.1" in cli("ui", "--help").stdout


def calls(tree: ast.AST, module: str, func: str) -> list[ast.Call]:
    return [n for n in ast.walk(tree) if isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute)
            and n.func.attr == func and isinstance(n.func.value, ast.Name) and n.func.value.id == module]


def keyword(call: ast.Call, name: str):
    return next((k.value.value for k in call.keywords if k.arg == name and isinstance(k.value, ast.Constant)), None)


def test_no_pickle_loading_anywhere_in_the_package():
    torch_loads = np_loads = 0
    for path in sorted((ROOT / "ganpipe").rglob("*.py")):
        tree = ast.parse(path.read_text(), str(path))
        for call in calls(tree, "torch", "load"):
            assert keyword(call, "weights_only") is True, f"{path}:{call.lineno}: torch.load without weights_only=True"
            torch_loads += 1
        for call in calls(tree, "np", "load") + calls(tree, "numpy", "load"):
            assert keyword(call, "allow_pickle") is False, f"{path}:{call.lineno}: np.load without allow_pickle=False"
            np_loads += 1
        for module, func in (("pickle", "load"), ("pickle", "loads"), ("pd", "read_pickle"), ("yaml", "load"),
                             ("yaml", "unsafe_load"), ("joblib", "load")):
            assert not calls(tree, module, func), f"{path}: {module}.{func}"
    assert torch_loads >= 1 and np_loads >= 1  # the checks above saw the loaders
