"""`ganpipe bench` on tiny settings: the result's shape, that both loops really train, that the
FLOPs per step are counted right. Speeds are never asserted: they depend on the machine and its load."""

import json
import math

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from ganpipe import bench
from ganpipe.bench import loops, run, timing
from ganpipe.cli import app

B = 16
G_FC = [(196, 128), (128, 256), (256, 512), (512, 1024), (1024, 784)]  # models.FCGenerator, in x out
D_FC = [(784, 512), (512, 256), (256, 1)]  # models.FCDiscriminator


@pytest.fixture(scope="module")
def images():
    from ganpipe.data.mnist import load_bundled

    return load_bundled()[0][::10]  # 500 digits, every class


@pytest.fixture
def digits_npz(tmp_path, images):
    path = tmp_path / "digits.npz"
    np.savez(path, images=images)
    return path


@pytest.fixture(autouse=True)
def one_thread():
    """One torch thread: on a busy 2-core machine two threads wait on each other for most of a step.
    run_bench also sets the process up as a stage does (deterministic algorithms); undo both after."""
    before = torch.get_num_threads(), torch.are_deterministic_algorithms_enabled(), \
        torch.is_deterministic_algorithms_warn_only_enabled()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before[0])
    torch.use_deterministic_algorithms(before[1], warn_only=before[2])


def numbers(tree, path=""):
    """Every number in a JSON tree, with its dotted path."""
    if isinstance(tree, dict):
        for k, v in tree.items():
            yield from numbers(v, f"{path}.{k}" if path else k)
    elif isinstance(tree, list):
        for i, v in enumerate(tree):
            yield from numbers(v, f"{path}[{i}]")
    elif isinstance(tree, (int, float)) and not isinstance(tree, bool):
        yield path, tree


def test_cli_writes_the_table_and_a_json_of_positive_finite_numbers(tmp_path, digits_npz, monkeypatch):
    sgemm = timing.sgemm_gflops
    monkeypatch.setattr(run, "sgemm_gflops", lambda n, repeats=5: sgemm(256, repeats))  # seconds at 2048
    out = tmp_path / "bench" / "bench.json"
    res = CliRunner().invoke(app, ["bench", "--steps", "3", "--warmup", "1", "--rounds", "2", "--batch-size", str(B),
                                   "--eval-n", "64", "--data", str(digits_npz), "--out", str(out), "--threads", "1"])
    assert res.exit_code == 0, res.output
    result = json.loads(out.read_text())
    assert result["config"] == {"steps": 3, "warmup": 1, "rounds": 2, "batch_size": B, "data": str(digits_npz),
                                "n_images": 500, "mallopt_in_process": result["config"]["mallopt_in_process"]}
    assert set(result["architectures"]) == {"mlp", "conv5"}
    for arch in result["architectures"].values():
        for loop in ("project", "reference"):
            assert {"images_per_s", "ms_per_step", "worst_step_ms", "minor_faults_per_step", "flops_per_step",
                    "gflops", "peak_share"} <= set(arch[loop])
            assert arch[loop]["steps"] == 3
        assert arch["speedup"] > 0 and len(arch["round_speedups"]) == 2
        assert arch["project_bf16"]["steps"] == 3 and arch["speedup_bf16"] > 0
    assert result["evaluate"]["n"] == 64 and result["evaluate"]["total_s"] > 0
    assert result["sgemm"]["gflops"] > 0
    for path, value in numbers(result):
        assert math.isfinite(value), path
        # fault counts may be 0 once the allocator keeps memory; nothing else may be
        assert value > 0 or path.endswith(("minor_faults_per_step", "load_before[0]", "load_before[1]",
                                           "load_before[2]", "load_after[0]", "load_after[1]", "load_after[2]")), path
    assert "ratio" in res.output and "scoring 64 vs 64" in res.output


def test_cli_refuses_an_unknown_architecture(tmp_path):
    res = CliRunner().invoke(app, ["bench", "--arch", "dcgan", "--out", str(tmp_path / "b.json")])
    assert res.exit_code == 2 and "mlp, conv5" in res.output
    assert not (tmp_path / "b.json").exists()


def _moved(before: dict, after: dict) -> list[str]:
    return [k for k, v in before.items() if v.is_floating_point() and not torch.equal(v, after[k])]


@pytest.mark.parametrize("arch", list(bench.ARCHITECTURES))
def test_both_loops_train_every_weight(images, arch):
    from ganpipe.data.images import to_tensor
    from ganpipe.training.objectives import build

    fresh = build("gan", loops.gan_params(arch, 1, B), seed=0).nets
    clock, nets = loops.run_project_loop(arch, to_tensor(images), steps=2, warmup=1, batch_size=B)
    assert len(clock.times) == len(clock.faults) == 1 + 1 + 2
    fresh_ref = loops.reference_gan(arch, seed=0)
    for name, start in (("generator", fresh_ref.G), ("discriminator", fresh_ref.D)):  # same nets, same start
        assert all(torch.equal(v, fresh[name].state_dict()[k]) for k, v in start.state_dict().items())
    ref_clock, ref_nets = loops.run_reference_loop(arch, images, steps=2, warmup=1, batch_size=B)
    assert len(ref_clock.times) == 1 + 1 + 2
    for name, net in nets.items():
        params = [k for k, _ in net.named_parameters()]
        assert set(params) <= set(_moved(fresh[name].state_dict(), net.state_dict())), name
    for name, start in (("generator", fresh_ref.G), ("discriminator", fresh_ref.D)):
        params = [k for k, _ in ref_nets[name].named_parameters()]
        assert set(params) <= set(_moved(start.state_dict(), ref_nets[name].state_dict())), name


def test_reference_loop_runs_across_epochs(images):
    clock, _ = loops.run_reference_loop("mlp", images[:40], steps=4, warmup=1, batch_size=B)  # 2 batches per epoch
    assert len(clock.times) == 1 + 1 + 4


def mm_flops(layers, batch=B):
    """FLOPs of one pass of x @ W through these Linear layers: 2 * batch * in * out (a multiply-add is 2)."""
    return sum(2 * batch * a * b for a, b in layers)


def test_flops_per_step_of_the_mlp_gan_match_a_hand_count(images):
    """FlopCounterMode counts 2*M*N*K per matmul, forward and backward. For the project's GAN step
    (d_steps = 1): G runs forward once; D three times (real and detached fakes in one call, fakes
    for G's loss). Backward costs one weight gradient per forward matmul, except D's in G's update
    (D is frozen there), plus an input gradient wherever the input needs one, which is not the case
    for G's first layer (noise) nor for D's first layer on real or detached inputs. The usual
    '3 x forward' rule would over-count by ~15% here."""
    from ganpipe.data.images import to_tensor

    forward = mm_flops(G_FC) + 3 * mm_flops(D_FC)
    weight_grads = mm_flops(G_FC) + 2 * mm_flops(D_FC)
    input_grads = (mm_flops(G_FC) - mm_flops(G_FC[:1])) + 2 * (mm_flops(D_FC) - mm_flops(D_FC[:1])) + mm_flops(D_FC)
    expected = forward + weight_grads + input_grads
    counted = loops.project_step_kernels("mlp", to_tensor(images), B)["flops_per_step"]
    assert counted == pytest.approx(expected, rel=0.01)
    assert counted < 0.9 * 3 * forward  # the missing gradients, as above

    # the textbook step runs G forward a second time (for the G update) and computes D's weight
    # gradients in the G update; nothing else differs
    reference = loops.reference_step_flops("mlp", images, B)
    assert reference - counted == pytest.approx(mm_flops(G_FC) + mm_flops(D_FC), rel=0.01)


def test_conv5_flops_include_the_conv_head(images):
    from ganpipe.data.images import to_tensor

    mlp, conv5 = (loops.project_step_kernels(a, to_tensor(images), B)["flops_per_step"] for a in ("mlp", "conv5"))
    # conv5's trunk ends in 2 x 784 outputs instead of 784: one more 1024 x 784 matmul, 3 passes (fwd,
    # weight grad, input grad); its 5x5 conv (2 -> 1 channels on 28x28) adds 3 x 2*B*784*2*25
    extra = 3 * mm_flops([(1024, 784)]) + 3 * 2 * B * 784 * 2 * 25
    assert conv5 - mlp == pytest.approx(extra, rel=0.01)


@pytest.mark.parametrize("arch", ["mlp", "conv5"])
def test_the_kernel_replay_holds_every_counted_flop_of_a_step(images, arch):
    """The 'kernels' ceiling replays exactly the matmuls and convolutions the FLOP count counts,
    at their shapes and layouts (channels-last included): nothing left out makes it look faster."""
    from ganpipe.data.images import to_tensor
    from ganpipe.training.loop import Batches
    from ganpipe.training.objectives import build

    data = to_tensor(images)
    objective = build("gan", loops.gan_params(arch, 1, B), seed=0)
    batches = Batches(data, B, 0)
    objective.step(batches)
    calls = timing.record_counted_ops(lambda: objective.step(batches))
    replayed = timing.count_flops(lambda: [func(*args, **kwargs) for func, args, kwargs in calls])
    assert replayed == timing.count_flops(lambda: objective.step(batches)) > 0
    if arch == "conv5":
        layouts = [a[0].is_contiguous(memory_format=torch.channels_last) for f, a, _ in calls
                   if str(f) == "aten.convolution.default"]
        assert layouts and all(layouts)
    assert timing.counted_ops_seconds(calls, repeats=2) > 0


def test_rounds_split_the_steps_and_pool_them():
    assert timing.round_sizes(300, 5) == [60] * 5
    assert timing.round_sizes(7, 3) == [3, 2, 2] and timing.round_sizes(2, 5) == [1, 1]
    # two rounds, each with one warm-up step: only the steps after each warm-up count
    first = timing.StepClock(times=[0.0, 9.0, 10.0, 11.0], faults=[0, 100, 101, 102])
    second = timing.StepClock(times=[20.0, 29.0, 33.0], faults=[200, 300, 310])
    s = timing.summarize([first, second], warmup=1, batch_size=10)
    assert s["steps"] == 3 and s["seconds"] == 6.0 and s["images_per_s"] == pytest.approx(5.0)
    assert s["worst_step_ms"] == 4000.0 and s["median_ms_per_step"] == 1000.0
    assert s["minor_faults_per_step"] == pytest.approx(12 / 3)


def test_step_clock_summary():
    clock = timing.StepClock(times=[0.0, 1.0, 1.5, 2.0, 4.0], faults=[0, 10, 20, 30, 40])
    s = clock.summary(warmup=1, batch_size=64)
    assert s["steps"] == 3 and s["seconds"] == 3.0
    assert s["images_per_s"] == pytest.approx(64.0) and s["worst_step_ms"] == pytest.approx(2000.0)
    assert s["minor_faults_per_step"] == pytest.approx(10.0)


def test_busy_machine_is_flagged():
    machine = {"cores": 2, "threads": 2, "load_before": [0.3, 1.0, 1.0], "load_after": [2.1, 1.0, 1.0]}
    assert bench.load_warning(machine) is None  # the bench's own two threads
    assert "not representative" in bench.load_warning({**machine, "load_before": [3.9, 4.0, 4.0]})
    assert "not representative" in bench.load_warning({**machine, "load_after": [5.6, 5.9, 5.5]})


def test_tile_to_repeats_without_exact_duplicates(images):
    tiled = bench.tile_to(images[:30], 75)
    assert tiled.shape == (75, 28, 28) and tiled.dtype == np.uint8
    assert np.array_equal(tiled[:30], images[:30])
    assert len({t.tobytes() for t in tiled}) == 75
    assert np.array_equal(bench.tile_to(images, 20), images[:20])


def test_data_defaults_to_the_bundled_digits_without_the_shared_file(tmp_path, monkeypatch):
    monkeypatch.setattr(loops, "DEFAULT_DATA", tmp_path / "absent.gz")
    assert loops.resolve_data(None) == "bundled"
    assert loops.resolve_data(tmp_path / "x.npz") == str(tmp_path / "x.npz")  # explicit: no silent fallback
