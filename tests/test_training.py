"""Models and the shared training loop on tiny budgets: shapes, constraints, resume, determinism, NaN guard."""

import numpy as np
import pytest
import torch

from conftest import cli
from ganpipe.params import GANParams, WGANParams, parse_params
from ganpipe.training.loop import Interrupted, fit
from ganpipe.training.models import make_discriminator, make_generator
from ganpipe.training.objectives import build, kl_to_standard_normal

TINY = dict(steps=6, batch_size=8, log_every=2, grid_every=3, checkpoint_every=3)


@pytest.fixture(scope="module")
def digits():
    from ganpipe.data.images import to_tensor
    from ganpipe.data.mnist import load_bundled

    return to_tensor(load_bundled()[0][:256])


@pytest.mark.parametrize("kind", ["fc", "conv3", "conv5", "upsample"])
def test_generators_emit_images_in_range(kind):
    g = make_generator(kind, latent=196)
    x = g(torch.randn(5, 196))
    assert x.shape == (5, 1, 28, 28)
    assert x.min() >= -1 and x.max() <= 1


@pytest.mark.parametrize("kind", ["fc", "conv"])
@pytest.mark.parametrize("sn", [False, True])
def test_discriminators_return_one_logit_per_image(kind, sn):
    d = make_discriminator(kind, spectral_norm=sn)
    assert d(torch.randn(5, 1, 28, 28)).shape == (5,)


@pytest.mark.parametrize("generator", ["fc", "conv3", "conv5", "upsample"])
@pytest.mark.parametrize("discriminator", ["fc", "conv"])
def test_every_gan_variant_trains(digits, generator, discriminator):
    p = GANParams(generator=generator, discriminator=discriminator, **TINY)
    objective = build("gan", p)
    before = [w.clone() for w in objective.G.parameters()]
    result = fit(objective, digits, p, seed=0, digest="x")
    assert [row["step"] for row in result.history] == [2, 4, 6]
    row = result.history[-1]
    assert 0 <= row["d_acc_real"] <= 1 and 0 <= row["d_real"] <= 1
    assert -0.01 <= row["js_estimate"] <= np.log(2) + 1  # batch estimate: bounded by log 2 only at the optimum
    # the saturating loss's gradient vanishes only where D rejects every fake; 6 steps in, it is there
    assert 0 < row["g_grad_norm_saturating"] < 1e3 and np.isfinite(row["g_grad_norm_saturating"])
    assert any(not torch.equal(a, b) for a, b in zip(before, objective.G.parameters()))
    assert sorted(result.snapshots) == [0, 3, 6] and result.snapshots[6].shape == (64, 28, 28)  # 0: untrained


def test_diagnose_measures_both_losses_without_touching_the_nets(digits):
    """One forward serves both gradient norms (each equal to its own forward and backward), and
    neither G's batch-norm statistics nor any weight or gradient change: the diagnostics every
    log_every steps must not alter what they measure."""
    objective = build("gan", GANParams(generator="fc", **TINY), seed=0)
    objective.set_probe(digits[:16], torch.randn(16, objective.latent))
    state = {k: v.clone() for net in objective.nets.values() for k, v in net.state_dict().items()}
    out = objective.diagnose()
    after = {k: v for net in objective.nets.values() for k, v in net.state_dict().items()}
    assert all(torch.equal(state[k], after[k]) for k in state)
    assert all(p.grad is None for net in objective.nets.values() for p in net.parameters())
    for kind in ("saturating", "nonsaturating"):
        loss = objective.generator_loss(objective.D(objective.G(objective.probe_z)), kind)
        grads = torch.autograd.grad(loss, list(objective.G.parameters()))
        expected = torch.linalg.vector_norm(torch.stack([g.norm() for g in grads])).item()
        assert out[f"g_grad_norm_{kind}"] == pytest.approx(expected, rel=1e-5)


@pytest.mark.parametrize("output", ["sigmoid", "tanh"])
def test_diagnose_reads_the_gradient_at_gs_output_layer(digits, output):
    """D's gradient at the pixels times the output's slope is the gradient at the output layer's
    pre-activation: checked against autograd through the layer's own input."""
    objective = build("gan", GANParams(generator="conv5", output=output, **TINY), seed=0)
    objective.set_probe(digits[:16], torch.randn(16, objective.latent))
    out = objective.diagnose()
    G = objective.G
    pre = []
    hook = G.head.register_forward_hook(lambda module, inputs, result: pre.append(result))
    with torch.no_grad():
        stats = {k: v.clone() for k, v in G.state_dict().items()}
    images = G(objective.probe_z)
    hook.remove()
    G.load_state_dict(stats)
    loss = objective.generator_loss(objective.D(images), "nonsaturating")
    at_pixels, at_output = torch.autograd.grad(loss, [images, pre[0]])
    assert out["g_grad_at_pixels"] == pytest.approx(at_pixels.norm().item(), rel=1e-5)
    assert out["g_grad_at_output"] == pytest.approx(at_output.norm().item(), rel=1e-4)
    assert 0 <= out["g_pinned_black"] <= 1


def test_output_gradient_on_known_pixels():
    """A sigmoid pixel at 0 is saturated at black and passes nothing; a tanh pixel at 0 passes it all."""
    from ganpipe.training.objectives import output_gradient

    grad = torch.ones(2, 1, 2, 2)
    black = output_gradient(torch.zeros(2, 1, 2, 2), grad, "sigmoid")
    assert black == {"g_grad_at_pixels": pytest.approx(8**0.5), "g_grad_at_output": 0.0, "g_pinned_black": 1.0}
    mid = output_gradient(torch.zeros(2, 1, 2, 2), grad, "tanh")
    assert mid["g_grad_at_output"] == pytest.approx(mid["g_grad_at_pixels"]) and mid["g_pinned_black"] == 0.0
    white = output_gradient(torch.ones(2, 1, 2, 2), grad, "sigmoid")
    assert white["g_pinned_black"] == 0.0  # saturated, but at white


@pytest.mark.parametrize("norm", ["none", "batch"])
def test_wgan_diagnose_reads_the_critics_answer_to_a_page_wide_offset(digits, norm):
    """The critic's score of the probe's fakes minus that of the same fakes lifted by PAGE_OFFSET,
    both nets in training mode, their batch statistics and weights left as they were."""
    from ganpipe.training.objectives import PAGE_OFFSET

    objective = build("wgan", WGANParams(critic_norm=norm, output="sigmoid", **TINY), seed=0)
    objective.set_probe(digits[:16], torch.randn(16, objective.latent))
    state = {k: v.clone() for net in objective.nets.values() for k, v in net.state_dict().items()}
    out = objective.diagnose()
    after = {k: v for net in objective.nets.values() for k, v in net.state_dict().items()}
    assert all(torch.equal(state[k], after[k]) for k in state)
    with torch.no_grad():
        fakes = objective.G(objective.probe_z)
        expected = (objective.C(fakes).mean() - objective.C(fakes + PAGE_OFFSET).mean()).item()  # white is 1 here
    assert out["critic_offset_drop"] == pytest.approx(expected, rel=1e-5, abs=1e-9)
    assert 0 <= out["clip_boundary_share"] <= 1


@pytest.mark.parametrize("model,knobs", [("gan", {"generator": "conv5", "output": "sigmoid"}),
                                         ("wgan", {"generator": "conv5", "output": "sigmoid", "critic_norm": "batch"})])
def test_how_often_the_diagnostics_run_changes_no_trained_weight(digits, model, knobs):
    """The readings at every log step (gradients, the critic's offset answer) restore the nets'
    statistics and draw no random number: a run's weights are the same whether they ran every
    step or once."""
    Params = GANParams if model == "gan" else WGANParams
    weights = []
    for log_every in (1, 6):
        p = Params(**{**TINY, "log_every": log_every}, **knobs)
        objective = build(model, p, seed=0)
        fit(objective, digits, p, seed=0, digest="x")
        weights.append([v.clone() for net in objective.nets.values() for v in net.state_dict().values()])
    assert all(torch.equal(a, b) for a, b in zip(*weights))


def test_the_training_page_offset_is_the_weakest_grey_page_control():
    from pathlib import Path

    from ganpipe.params import load_params
    from ganpipe.training.objectives import PAGE_OFFSET

    params = load_params(Path(__file__).parents[1] / "params.yaml")
    assert PAGE_OFFSET == min(params.findings.controls.grey_pages)


@pytest.mark.parametrize("model", ["gan", "wgan"])
def test_bf16_precision_trains_in_autocast_and_keeps_float32_weights(digits, model):
    """precision: bf16 runs the step under bfloat16 autocast: the run differs from fp32, stays
    finite, and the weights, optimizer state and samples stay float32."""
    Params = GANParams if model == "gan" else WGANParams
    weights = {}
    for precision in ("fp32", "bf16"):
        p = Params(generator="fc", precision=precision, **TINY)
        objective = build(model, p, seed=0)
        result = fit(objective, digits, p, seed=0, digest="x")
        assert all(np.isfinite(v) for row in result.history for v in row.values())
        assert all(w.dtype == torch.float32 for w in objective.G.parameters())
        assert result.snapshots[6].dtype == np.uint8
        weights[precision] = [w.detach().clone() for w in objective.G.parameters()]
    assert any(not torch.equal(a, b) for a, b in zip(weights["fp32"], weights["bf16"]))


def test_critic_weights_stay_clipped_after_every_critic_step(digits):
    p = WGANParams(clip=0.005, n_critic=3, **TINY)
    objective = build("wgan", p)
    steps = []
    original = objective.optimizers["c"].step

    def checked_step(*a, **k):  # called once per critic update; the clamp runs right after it
        steps.append(max(w.abs().max().item() for w in objective.C.parameters()))
        return original(*a, **k)

    objective.optimizers["c"].step = checked_step
    result = fit(objective, digits, p, seed=0, digest="x")
    assert len(steps) == p.steps * p.n_critic
    assert all(m <= 0.005 + 1e-9 for m in steps[1:])  # every step after the first sees clipped weights
    assert max(w.abs().max().item() for w in objective.C.parameters()) <= 0.005
    assert result.history[-1]["clip_boundary_share"] > 0


@pytest.mark.parametrize("constraint", ["gp", "sn"])
def test_gp_and_sn_critics_train(digits, constraint):
    p = WGANParams(constraint=constraint, critic="conv", n_critic=2, **TINY)
    result = fit(build("wgan", p), digits, p, seed=0, digest="x")
    assert np.isfinite(result.history[-1]["wasserstein"])
    assert "clip_boundary_share" not in result.history[-1]


def test_vae_kl_matches_closed_form():
    mu, logvar = torch.randn(7, 5), torch.randn(7, 5)
    q = torch.distributions.Normal(mu, torch.exp(0.5 * logvar))
    p = torch.distributions.Normal(torch.zeros(5), torch.ones(5))
    expected = torch.distributions.kl_divergence(q, p).sum(1).mean()
    assert torch.allclose(kl_to_standard_normal(mu, logvar), expected, atol=1e-5)


@pytest.mark.parametrize("model", ["ae", "vae"])
def test_autoencoders_train_and_decode(digits, model):
    p = getattr(parse_params({model: TINY}), model)
    objective = build(model, p)
    result = fit(objective, digits, p, seed=0, digest="x")
    assert result.history[0]["recon"] > result.history[-1]["recon"] * 0.5
    assert ("kl" in result.history[-1]) == (model == "vae")
    x = objective.generate(torch.randn(3, p.latent))
    assert x.shape == (3, 1, 28, 28) and -1 <= x.min() and x.max() <= 1
    # trained reconstructions are closer to their inputs than to other digits
    real = digits[:16]
    err = (objective.reconstruct(real) - real).pow(2).mean()
    assert err < (objective.reconstruct(real) - real.roll(1, 0)).pow(2).mean()


def _weights(objective):
    return {f"{n}.{k}": v.clone() for n, net in objective.nets.items() for k, v in net.state_dict().items()}


@pytest.mark.parametrize("model", ["gan", "wgan", "vae"])
def test_interrupted_then_resumed_equals_uninterrupted(digits, tmp_path, model):
    p = getattr(parse_params({model: {**TINY, "steps": 8, "checkpoint_every": 100}}), model)
    straight = build(model, p, seed=3)
    full = fit(straight, digits, p, seed=3, digest="d")

    ckpt = tmp_path / "ckpt.pt"
    first = build(model, p, seed=3)
    with pytest.raises(Interrupted):
        fit(first, digits, p, seed=3, digest="d", checkpoint=ckpt, should_stop=lambda step: step == 5)
    assert ckpt.exists()
    resumed = build(model, p, seed=99)  # its own init is overwritten by the checkpoint
    rest = fit(resumed, digits, p, seed=3, digest="d", checkpoint=ckpt)
    assert rest.resumed_from == 5 and rest.steps_run == 3
    a, b = _weights(straight), _weights(resumed)
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert rest.history == full.history


def test_stop_requested_at_the_last_step_finishes_the_run(digits, tmp_path):
    p = GANParams(**{**TINY, "steps": 4, "checkpoint_every": 100})
    ckpt = tmp_path / "ckpt.pt"
    result = fit(build("gan", p), digits, p, seed=0, digest="d", checkpoint=ckpt, should_stop=lambda s: s == 4)
    assert result.steps_run == 4 and result.history[-1]["step"] == 4 and 4 in result.snapshots
    assert not ckpt.exists()  # no interrupt checkpoint: nothing is left to resume


def test_checkpoint_of_other_params_is_refused(digits, tmp_path):
    from ganpipe.running.files import InputError

    p = GANParams(**TINY)
    ckpt = tmp_path / "ckpt.pt"
    with pytest.raises(Interrupted):
        fit(build("gan", p), digits, p, seed=0, digest="one", checkpoint=ckpt, should_stop=lambda s: s == 2)
    with pytest.raises(InputError, match="other params"):
        fit(build("gan", p), digits, p, seed=0, digest="two", checkpoint=ckpt)


def test_stage_cli_is_deterministic_and_writes_outputs(tmp_path, params_file, prepared):
    tiny = {"gan": {**TINY, "generator": "fc"}, "evaluate": {"n_samples": 50}}
    path = params_file(tiny)
    outs = []
    for name in ("a", "b"):  # one after the other in one process: the first leaves nothing that moves the second
        out = tmp_path / name
        r = cli("train-gan", "--params", str(path), "--out", str(out), "--data", str(prepared))
        assert r.returncode == 0, r.stderr
        outs.append(out)
    a, b = outs
    assert (a / "history.csv").read_text() == (b / "history.csv").read_text()
    with np.load(a / "samples.npz") as sa, np.load(b / "samples.npz") as sb:
        assert sa["images"].shape == (50, 28, 28) and np.array_equal(sa["images"], sb["images"])
    for f in ("generator.pt", "discriminator.pt", "grid.png", "train.json", "snapshots.npz"):
        assert (a / f).exists()
    state = torch.load(a / "generator.pt", weights_only=True)
    assert all(isinstance(v, torch.Tensor) for v in state.values())
    assert not list((tmp_path / ".checkpoints").glob("*.pt"))  # removed once the stage completes


def test_nan_stops_the_run_with_a_failed_mlflow_run(tmp_path, params_file, prepared):
    from mlflow.tracking import MlflowClient

    path = params_file({"gan": {**TINY, "steps": 40, "lr_g": 1e12, "lr_d": 1e12}})
    r = cli("train-gan", "--params", str(path), "--out", str(tmp_path / "gan"), "--data", str(prepared))
    assert r.returncode == 1
    assert "training diverged at step" in r.stderr and "Traceback" not in r.stderr
    assert not (tmp_path / "gan" / "generator.pt").exists()
    client = MlflowClient(tracking_uri=f"sqlite:///{tmp_path / 'mlflow.db'}")
    runs = client.search_runs([client.get_experiment_by_name("ganpipe").experiment_id],
                              filter_string="tags.stage = 'train-gan'")
    assert [run.info.status for run in runs] == ["FAILED"]


def test_a_run_without_a_terminal_says_how_far_it_is_every_tenth(digits, capsys):
    """Under `dvc repro` or a piped `dvc exp run` there is no terminal for a bar: the run prints a
    plain line every tenth of its steps (steps done of total, time left, the last losses)."""
    p = GANParams(**{**TINY, "steps": 20, "log_every": 2})
    fit(build("gan", p), digits, p, seed=0, digest="x")
    lines = [line for line in capsys.readouterr().out.splitlines() if line.startswith("training: step")]
    assert [line.split()[2] for line in lines] == [f"{s}/20" for s in range(2, 21, 2)]
    assert "s left; d_loss" in lines[-1] and "g_loss" in lines[-1]
    fit(build("gan", p), digits, p, seed=0, digest="x", progress=False)  # the pool's runs report elsewhere
    assert "training: step" not in capsys.readouterr().out
