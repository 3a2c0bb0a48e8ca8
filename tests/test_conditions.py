"""Seeds and condition maps: which runs an experiment trains, that a seed's run does not depend on
the other seeds, and that a bad map is refused in one line."""

import hashlib
from pathlib import Path

import pytest
import torch

from ganpipe.params import GANExperiment, GANParams, ParamsError, WGANExperiment, WGANParams, cell_config, parse_params
from ganpipe.study import conditions
from ganpipe.training.models import ImageSpace, make_discriminator, make_generator
from ganpipe.training.objectives import both, build

LOOP = {"steps": 4, "batch_size": 16, "log_every": 2, "grid_every": 2, "checkpoint_every": 4, "snapshot_size": 64}


def test_the_base_runs_at_every_seed_and_the_map_at_the_map_seeds():
    exp = GANExperiment(model="gan", output="sigmoid", map={"output": ["sigmoid", "tanh"], "d_pretrain": [0, 500]})
    found = conditions.conditions(exp, [0, 1, 2], [0])
    assert [(c.name, c.seeds) for c in found] == [
        ("base", (0, 1, 2)), ("d_pretrain=500", (0,)), ("output=tanh", (0,)), ("d_pretrain=500+output=tanh", (0,))]
    jobs = conditions.jobs("f1", exp, [0, 1, 2], [0], Path("out"))
    assert len(jobs) == 6 and jobs[3].folder == Path("out/d_pretrain=500/seed_0")
    assert jobs[3].cfg.d_pretrain == 500 and jobs[3].cfg.output == "sigmoid" and jobs[3].cfg.map == {}


def test_a_list_of_grids_is_their_union_and_a_confirmed_condition_runs_at_every_seed():
    exp = GANExperiment(model="gan", map=[{"output": ["sigmoid"]}, {"d_pretrain": [0, 500]}, {"output": ["sigmoid"]}],
                        confirm=["d_pretrain=500"])
    found = conditions.conditions(exp, [0, 1, 2], [0])
    assert [(c.name, c.seeds) for c in found] == [("base", (0, 1, 2)), ("output=sigmoid", (0,)),
                                                   ("d_pretrain=500", (0, 1, 2))]  # the base cell is the base
    assert cell_config(exp, found[2].overrides).confirm == []


def test_named_cells_are_conditions_by_their_names_and_confirm_names_them():
    exp = GANExperiment(model="gan", generator="fc", steps=3000,
                        map={"wgan": {"model": "wgan", "lr": 2e-4}, "wgan_56px": {"model": "wgan", "lr": 2e-4, "image_size": 56},
                             "same": {"generator": "fc"}},  # changes nothing: the experiment's own setting
                        confirm=["wgan"])
    found = conditions.conditions(exp, [0, 1, 2], [0])
    assert [(c.name, c.seeds) for c in found] == [("base", (0, 1, 2)), ("wgan", (0, 1, 2)), ("wgan_56px", (0,))]
    jobs = conditions.jobs("f4_fc", exp, [0, 1, 2], [0], Path("out"))
    assert jobs[-1].folder == Path("out/wgan_56px/seed_0") and jobs[-1].cfg.image_size == 56
    # a named cell reads as the knobs it changes, as a grid's cell does
    assert conditions.label("wgan_56px", found[2].overrides) == "under the WGAN, 56 px, lr 0.0002"
    assert conditions.label("wgan_56px") == "wgan 56px"


@pytest.mark.parametrize("cells, says", [
    ({"Note": {"output": "sigmoid"}}, "findings.experiments.x.map.Note"),
    ({"note": {"clip": 0.1}}, "map.note.clip is not allowed: 'clip' is not a knob of a gan experiment"),
])
def test_a_bad_named_cell_is_refused_in_one_line(cells, says):
    with pytest.raises(ParamsError) as err:
        parse_params({"findings": {"experiments": {"x": {"model": "gan", "map": cells}}}}, "params.yaml")
    assert says in str(err.value) and "\n" not in str(err.value)


def test_a_cell_that_switches_the_model_keeps_the_generator_and_the_loop():
    exp = GANExperiment(model="gan", generator="fc", steps=3000, grid_every=300, lr_d=1e-3,
                        map=[{"model": ["wgan"], "lr": [1e-3], "steps": [1000]}])
    (name, overrides), = exp.cells().items()
    assert name == "lr=0.001+model=wgan+steps=1000"
    cfg = cell_config(exp, overrides)
    assert isinstance(cfg, WGANExperiment) and cfg.model == "wgan"
    assert (cfg.generator, cfg.steps, cfg.grid_every, cfg.lr) == ("fc", 1000, 300, 1e-3)  # kept, kept, set
    assert cfg.clip == WGANParams().clip and cfg.n_critic == WGANParams().n_critic  # the WGAN's own defaults
    jobs = conditions.jobs("f4_fc", exp, [0, 1], [0], Path("out"))
    assert [(j.cfg.model, j.seed) for j in jobs] == [("gan", 0), ("gan", 1), ("wgan", 0)]


@pytest.mark.parametrize("grid, says", [
    ({"model": ["vae"]}, "map.0.model = \"vae\" is not allowed: allowed: gan, wgan"),
    ({"clip": [0.1]}, "map.0.clip is not allowed: 'clip' is not a knob of a gan experiment"),
    ({"model": ["wgan"], "clip": [-1]}, "map.0.clip = -1 is not allowed"),
])
def test_a_model_switch_is_checked_against_the_model_it_switches_to(grid, says):
    with pytest.raises(ParamsError) as err:
        parse_params({"findings": {"experiments": {"x": {"model": "gan", "map": [grid]}}}}, "params.yaml")
    assert says in str(err.value) and "\n" not in str(err.value)


def test_confirming_a_condition_the_map_lacks_is_refused_in_one_line():
    with pytest.raises(ParamsError) as err:
        parse_params({"findings": {"experiments": {"x": {"model": "gan", "map": {"d_pretrain": [500]},
                                                        "confirm": ["d_pretrain=50"]}}}}, "params.yaml")
    assert str(err.value) == ("params.yaml: findings.experiments.x.confirm: 'd_pretrain=50' is not a condition of the "
                              "map; its conditions: d_pretrain=500")


@pytest.mark.parametrize("grid,message", [
    ([{"output": ["tanh"]}, {"steps": [0]}], "findings.experiments.x.map.1.steps = 0 is not allowed"),
    ({"output": ["relu"]}, "findings.experiments.x.map.output = \"relu\" is not allowed"),
    ({"clip": [0.1]}, "findings.experiments.x.map.clip is not allowed: 'clip' is not a knob of a gan experiment"),
    ({"steps": [-1]}, "findings.experiments.x.map.steps = -1 is not allowed"),
    ({"steps": []}, "findings.experiments.x.map.steps = [] is not allowed"),
])
def test_a_bad_map_is_refused_in_one_line(grid, message):
    with pytest.raises(ParamsError) as err:
        parse_params({"findings": {"experiments": {"x": {"model": "gan", "map": grid}}}}, "params.yaml")
    assert message in str(err.value) and "\n" not in str(err.value)


def test_an_experiment_with_seeds_of_its_own_runs_at_those_and_its_runs_do_not_see_them():
    """Runs of known state that calibrate a rule run apart from the seeds the rule judges."""
    exp = GANExperiment(model="gan", steps=4800, seeds=[10, 11])
    assert [(c.name, c.seeds) for c in conditions.conditions(exp, [0, 1, 2], [0])] == [("base", (10, 11))]
    assert not hasattr(cell_config(exp, {}), "seeds") or cell_config(exp, {}).seeds is None
    with pytest.raises(ParamsError, match="findings.experiments.k.seeds = \\[3, 3\\] is not allowed"):
        parse_params({"findings": {"experiments": {"k": {"model": "gan", "seeds": [3, 3]}}}}, "params.yaml")


def test_seeds_must_be_distinct():
    with pytest.raises(ParamsError, match="findings.seeds = \\[1, 1\\] is not allowed: seeds must be distinct"):
        parse_params({"findings": {"seeds": [1, 1]}}, "params.yaml")


def test_the_note_size_and_range_reach_the_measures_as_28_on_minus_one_to_one():
    space = ImageSpace("sigmoid", 56)
    x = torch.linspace(-1, 1, 28).view(1, 1, 1, 28).expand(3, 1, 28, 28)  # smooth: an upscale keeps it
    big = space.from_canonical(x)
    assert big.shape == (3, 1, 56, 56) and big.min() >= 0 and big.max() <= 1
    back = space.to_canonical(big)
    assert back.shape == x.shape and (back - x).abs().max() < 0.01  # (the border pixels blur a little)
    g = make_generator("conv5", 196, output="sigmoid", size=56)
    out = g(torch.randn(2, 196))
    assert out.shape == (2, 1, 56, 56) and out.min() >= 0 and out.max() <= 1
    assert make_discriminator("conv", size=56)(out).shape == (2,)
    gen = build("gan", GANParams(output="sigmoid", image_size=56, generator="fc"), seed=0).generate(torch.randn(4, 196))
    assert gen.shape == (4, 1, 28, 28) and gen.min() >= -1 and gen.max() <= 1


def test_d_pretraining_moves_only_the_discriminator():
    obj = build("gan", GANParams(d_pretrain=3, generator="fc"), seed=0)
    g0 = [p.clone() for p in obj.G.parameters()]
    d0 = [p.clone() for p in obj.D.parameters()]
    obj.pretrain(lambda: torch.rand(8, 1, 28, 28) * 2 - 1)
    assert all(torch.equal(a, b) for a, b in zip(g0, obj.G.parameters()))
    assert not all(torch.equal(a, b) for a, b in zip(d0, obj.D.parameters()))


def test_the_paper_critic_schedule():
    obj = build("wgan", WGANParams(critic_schedule="paper", n_critic=5, generator="fc"), seed=0)
    counts = {}
    for it in (1, 25, 26, 500, 501, 1001):
        obj.iteration = it
        counts[it] = obj.critic_updates()
    assert counts == {1: 100, 25: 100, 26: 5, 500: 5, 501: 100, 1001: 100}


def test_a_batch_norm_critic_scores_each_batch_by_its_own_statistics():
    """With batch norm (the WGAN paper's critic) an image's score depends on the batch it came in,
    so real and fake batches go through the critic separately, as in the paper's code; and the clip
    holds batch norm's scale and shift to +-c as well."""
    real, fake = torch.rand(16, 1, 28, 28) * 2 - 1, torch.rand(16, 1, 28, 28) * 2 - 1
    for norm, depends in (("batch", True), ("none", False)):
        obj = build("wgan", WGANParams(critic_norm=norm, generator="fc", batch_size=16), seed=0)
        together, _ = both(obj.C, real, fake)
        alone, _ = both(obj.C, real, fake, separately=True)
        assert (not torch.allclose(together, alone, atol=1e-5)) == depends, norm
        obj.step(lambda: real)
        assert max(float(p.detach().abs().max()) for p in obj.C.parameters()) <= obj.p.clip
    with pytest.raises(ParamsError, match="critic_norm = batch is not allowed with constraint = gp"):
        parse_params({"wgan": {"critic_norm": "batch", "constraint": "gp"}}, "params.yaml")
    with pytest.raises(ParamsError) as err:  # each value is a valid knob, the cell is not
        parse_params({"findings": {"experiments": {"x": {"model": "wgan", "map": {
            "critic_norm": ["batch"], "constraint": ["gp"]}}}}}, "params.yaml")
    assert "findings.experiments.x.map cell constraint=gp+critic_norm=batch is not allowed: critic_norm = batch" in str(err.value)


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.slow
def test_a_seed_gives_the_same_run_whichever_seeds_run_beside_it(tmp_path, params_file):
    """Each run is its own one-thread process: seed 0 beside seed 1 and beside seed 2 must be bit-identical."""
    from ganpipe.params import load_params
    from ganpipe.pipeline.experiment import run_experiment
    from ganpipe.pipeline.prepare import prepare_data

    base = params_file({"findings": {"experiments": {"e": {"model": "gan", "generator": "fc", **LOOP}}}})
    prepare_data(load_params(base), tmp_path / "prepare")
    data = tmp_path / "prepare" / "mnist.npz"
    outs = {}
    for other in (1, 2):
        p = params_file({"findings": {"seeds": [0, other], "experiments": {"e": {"model": "gan", "generator": "fc", **LOOP}}}},
                        name=f"p{other}.yaml")
        outs[other] = tmp_path / f"with_{other}"
        summary = run_experiment("e", load_params(p), outs[other], data)
        assert [(r["condition"], r["seed"]) for r in summary["runs"]] == [("base", 0), ("base", other)]
    for name in ("generator.pt", "discriminator.pt", "samples.npz", "history.csv"):
        assert sha(outs[1] / "base/seed_0" / name) == sha(outs[2] / "base/seed_0" / name), name
    assert sha(outs[1] / "base/seed_1/generator.pt") != sha(outs[2] / "base/seed_2/generator.pt")  # seeds do differ


def test_the_longest_runs_start_first_and_the_results_keep_the_jobs_order(tmp_path):
    """All of a stage's runs share the cores; the one with the most work, started last, would end alone."""
    from ganpipe.pipeline.experiment import longest_first

    exp = WGANExperiment(model="wgan", steps=20, clip=0.01, map={"critic": ["conv"], "steps": [40]})
    jobs = conditions.jobs("x", exp, [0, 1], [0], tmp_path)
    order = longest_first(jobs)
    assert [(jobs[i].condition, jobs[i].seed) for i in order] == [("critic=conv+steps=40", 0), ("base", 0), ("base", 1)]
