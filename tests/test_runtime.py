"""How a ganpipe process sets itself up to share the cores (runtime.openmp_settings): the
decision, alone and beside another run, and that it changes no number. Speeds are measured by
`ganpipe bench` (its contention part), never here."""

import os
import subprocess
import sys
import time

import torch

from conftest import run_cli
from ganpipe.running.runtime import SPIN_COUNT, openmp_settings

TINY = dict(steps=6, batch_size=8, log_every=2, grid_every=3, checkpoint_every=3)
# what a `ganpipe` command has once it has started: its OpenMP wait and torch's thread count
PROBE = ("import os; from ganpipe.running.runtime import share_cores_fairly; share_cores_fairly(); import torch; "
         "print(os.environ.get('GOMP_SPINCOUNT'), os.environ.get('OMP_WAIT_POLICY'), torch.get_num_threads())")


def test_a_short_spin_wait_unless_the_user_chose_how_threads_wait():
    assert SPIN_COUNT == 1000
    assert openmp_settings({}) == {"GOMP_SPINCOUNT": "1000"}
    assert openmp_settings({"OMP_NUM_THREADS": "1"}) == {"GOMP_SPINCOUNT": "1000"}  # the count is the user's
    assert openmp_settings({"OMP_WAIT_POLICY": "PASSIVE"}) == {}
    assert openmp_settings({"GOMP_SPINCOUNT": "300000"}) == {}


def probe(env: dict) -> str:
    r = subprocess.run([sys.executable, "-c", PROBE], env=env, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    return r.stdout.strip()


def test_a_run_beside_another_ganpipe_run_gets_the_settings_of_a_run_alone(tmp_path, params_file, prepared):
    """The thread count changes the trained weights (a 1-thread WGAN ends with other weights than
    a 2-thread one), so it must not follow the machine's load: the settings a process picks are
    the same with nothing else running and with a ganpipe training stage beside it."""
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_NUM_THREADS", "GOMP_SPINCOUNT", "OMP_WAIT_POLICY")}
    alone = probe(env)
    spin, policy, threads = alone.split()
    assert (spin, policy) == ("1000", "None") and int(threads) >= 1  # torch's own count: one per core
    path = params_file({"wgan": {**TINY, "steps": 5000}})
    other = subprocess.Popen([sys.executable, "-m", "ganpipe", "train-wgan", "--params", str(path), "--out",
                              str(tmp_path / "wgan"), "--data", str(prepared)], env=env,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        while not list(tmp_path.glob(".checkpoints/*.pt")):  # its first checkpoint: it is training
            assert other.poll() is None and time.monotonic() < deadline
            time.sleep(0.2)
        beside = probe(env)
        assert other.poll() is None  # still training while the probe chose
    finally:
        other.kill()
        other.wait()
    assert beside == alone


def test_the_spin_wait_changes_no_number(tmp_path, params_file, prepared):
    """Only how idle threads wait differs, never which thread sums what: a 2-thread WGAN stage under
    ganpipe's setting and under libgomp's default ends with identical weights and history."""
    path = params_file({"wgan": TINY, "evaluate": {"n_samples": 20}})
    for name, env in (("ganpipe", {}), ("default", {"GOMP_SPINCOUNT": "300000"})):  # 300,000: libgomp's own
        r = run_cli("train-wgan", "--params", str(path), "--out", str(tmp_path / name), "--data", str(prepared),
                    env={"OMP_NUM_THREADS": "2", **env})
        assert r.returncode == 0, r.stderr
    a = torch.load(tmp_path / "ganpipe" / "generator.pt", weights_only=True)
    b = torch.load(tmp_path / "default" / "generator.pt", weights_only=True)
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert (tmp_path / "ganpipe" / "history.csv").read_text() == (tmp_path / "default" / "history.csv").read_text()
