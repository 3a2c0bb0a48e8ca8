"""The trained rule (windows of snapshot FIDs), its calibration on runs of known state, verdict
stability over the last third, and F5's cost, which no clock can move."""

from pathlib import Path

import numpy as np
import pytest

from ganpipe.params import parse_params
from ganpipe.study import evidence, trained
from ganpipe.training import cost

STEPS = list(range(0, 3001, 300))  # the untrained generator, then ten snapshots, as the main GAN's
# a long run: falls fast, then oscillates around a level (GANs do not settle on a flat line)
LONG = [450.0, 260.0, 120.0, 70.0, 55.0, 48.0, 52.0, 45.0, 50.0, 47.0, 51.0]
# the same run cut at a tenth of its budget, snapshot every 30 steps: still falling steeply
SHORT_STEPS = list(range(0, 301, 30))
SHORT = [450.0, 400.0, 380.0, 350.0, 330.0, 300.0, 280.0, 260.0, 240.0, 230.0, 215.0]


def test_the_rule_reads_the_first_snapshot_and_the_medians_of_the_middle_and_last_thirds():
    # middle third: steps 1000-1999 (1200, 1500, 1800); last third: >= 2000 (2100 ... 3000)
    assert trained.thirds(STEPS, LONG) == ([55.0, 48.0, 52.0], [45.0, 50.0, 47.0, 51.0])
    w = trained.windows(STEPS, LONG)
    assert (w["first"], w["middle"], w["last"]) == (450.0, 52.0, 48.5)
    assert w["remaining"] == pytest.approx(48.5 / 450) and w["recent"] == pytest.approx(3.5 / 401.5)
    assert w["untrained"] == pytest.approx(48.5 / 450)
    assert trained.windows([1, 2], [5.0, 4.0]) is None  # too few snapshots per third to judge windows


def test_the_rule_passes_long_runs_and_fails_their_tenths():
    cal = trained.calibrate({"long": (STEPS, LONG)}, {"tenth": (SHORT_STEPS, SHORT)}, at=0.5)
    assert cal["separates"]
    assert trained.trained(STEPS, LONG, cal)["ok"]
    assert not trained.trained(SHORT_STEPS, SHORT, cal)["ok"]
    # one spike in the last third does not undo a trained run: windows, not points
    spiky = LONG[:-2] + [90.0, 48.0]
    assert trained.trained(STEPS, spiky, cal)["ok"]


def test_a_run_that_has_not_started_is_not_trained_however_flat():
    """A WGAN cut short sits at its initial FID: flat, and untrained."""
    cal = trained.calibrate({"long": (STEPS, LONG)}, {"tenth": (SHORT_STEPS, SHORT)}, at=0.5)
    flat = [390.0, 380.0, 376.0, 370.0, 372.0, 368.0, 371.0, 369.0, 374.0, 370.0, 372.0]
    assert not trained.trained(SHORT_STEPS, flat, cal)["ok"]
    still_falling = [380.0, 378.0, 376.0, 367.0, 356.0, 272.0, 210.0, 128.0, 60.0, 31.0, 21.0]  # learned, not levelled
    assert not trained.trained(STEPS, still_falling, cal)["ok"]


def test_a_rule_that_cannot_tell_long_from_short_judges_nothing():
    cal = trained.calibrate({"long": (SHORT_STEPS, SHORT)}, {"tenth": (STEPS, LONG)}, at=0.5)
    assert not cal["separates"]
    assert not trained.trained(STEPS, LONG, cal)["ok"]


def test_resampling_noise_reports_the_spread_of_draws():
    out = trained.resampling_noise(lambda i: [10.0, 12.0, 11.0][i], 3)
    assert out["mean"] == pytest.approx(11.0) and out["std"] == pytest.approx(1.0)
    assert out["relative"] == pytest.approx(1 / 11)


def test_stability_reads_every_snapshot_of_the_last_third():
    s = {"step": STEPS}
    assert evidence.late_steps(s) == [2100, 2400, 2700, 3000]
    cut = evidence.upto({"step": STEPS, "fid": LONG}, 1500)
    assert cut == {"step": [0, 300, 600, 900, 1200, 1500], "fid": LONG[:6]}


def test_digits_form_where_the_fid_first_comes_near_its_final_level():
    # final level: median of the last third = 48.5; within 1.5x = 72.75: first reached at step 900 (70)
    assert evidence.formed_step({"step": STEPS, "fid": LONG}, 1.5) == 900


def test_f5_cost_is_counted_not_timed(monkeypatch):
    p = parse_params({"findings": {"experiments": {
        "up": {"model": "gan", "generator": "upsample", "batch_size": 8},
        "c5": {"model": "gan", "generator": "conv5", "batch_size": 8}}}}).findings.experiments
    first = {k: cost.step_flops("gan", v) for k, v in p.items()}
    ticks = iter(np.random.default_rng(0).uniform(0, 1e6, 10_000))
    import time

    monkeypatch.setattr(time, "perf_counter", lambda: next(ticks))  # a clock gone mad changes nothing
    assert {k: cost.step_flops("gan", v) for k, v in p.items()} == first
    assert first["up"] > 2 * first["c5"] > 0


def fake_claim(values: dict[int, float]):
    """A claim whose single check (x > 0) reads the value at the snapshot judged."""
    from ganpipe.study.claims.claim import Claim, record

    def ev(runs, cond, seed, ctx, step=None):
        return {"x": values[step or max(values)], "fid_steps": sorted(values)}

    return Claim("FX", "fake", lambda e, t: record("c", "m", e, {}, {"positive": e["x"] > 0}), lambda f, r: [],
                 experiments=lambda s: [], evidence=ev, validity=lambda e, v, tr: {})


@pytest.mark.parametrize("late,holds", [
    ([1.0, 2.0, 3.0, 4.0], True),      # holds at every late snapshot
    ([-1.0, -2.0, -3.0, -4.0], False),  # fails at every one
    ([0.2, -0.1, 0.3, -0.05], True),    # hovers at the threshold: answered by its median (0.075), not a flip
    ([-0.2, 0.1, -0.3, 0.05], False),   # the same, below (median -0.075)
])
def test_checks_read_the_median_of_the_last_third_not_its_last_snapshot(late, holds):
    from ganpipe.study import judge

    values = dict(zip(STEPS, [-5.0] * 7 + late))  # the early snapshots do not count
    end, judged, answers = judge.late_evidence(fake_claim(values), None, "base", 0, None, {})
    assert end["x"] == late[-1] and judged["x"] == pytest.approx(float(np.median(late)))
    assert fake_claim(values).judge(judged, {})["checks"]["positive"] is holds
    assert [step for step, _ in answers] == [2100, 2400, 2700, 3000]  # in step order, not as text
    assert [h for _, h in answers] == [x > 0 for x in late]  # each snapshot's answer, kept for the reader
    assert judge.late_window(answers, 3)["ok"]
    short = {s: v for s, v in values.items() if s <= 900}  # two snapshots in its last third: too few
    assert not judge.late_window(judge.late_evidence(fake_claim(short), None, "base", 0, None, {})[2], 3)["ok"]


def test_per_clip_tables_take_their_median_entry_by_entry():
    from ganpipe.study.judge import median_evidence

    at = [{"by_clip": {"0.01": a, "1.0": b}, "name": "x", "fid_steps": [1]} for a, b in [(1, 9), (3, 7), (2, 8)]]
    out = median_evidence(at, at[-1])
    assert out["by_clip"] == {"0.01": 2.0, "1.0": 8.0} and out["name"] == "x" and out["fid_steps"] == [1]


def f1_history(steps: int, seed: int = 0) -> dict:
    """A strong-D run's history as the pilots drew it (log every 25 steps): D wins at once, G's loss
    climbs to ~40 by step 200 and falls back to a level near 10, with noise."""
    rng = np.random.default_rng(seed)
    t = np.arange(25, steps + 1, 25)
    g = 10 + 30 * np.exp(-(((t - 200) / 120.0) ** 2)) * (t < 200) + 30 * np.exp(-(t - 200) / 300.0) * (t >= 200)
    return {"step": t, "g_loss": g * rng.uniform(0.9, 1.1, len(t)), "d_acc_fake": np.clip(rng.normal(0.99, 0.01, len(t)), 0, 1)}


def test_f1_validity_asks_that_the_failure_holds_not_that_the_fid_plateaus():
    """A collapsed run whose FID still moves is valid for F1; the same run cut at a tenth, its G loss
    still climbing, is not; neither is a run where D lost control."""
    from ganpipe.params import ValidityParams
    from ganpipe.study.claims import f1_collapse

    known = {f"seed {seed}": (h["step"].tolist(), h["g_loss"].tolist())
             for seed, h in ((seed, f1_history(4800, seed)) for seed in (10, 11))}
    held = trained.calibrate_held(known, cut=240, at=0.5)  # twice the budget must pass, a tenth of it fail
    assert held["separates"], held
    rule = trained.Rule({"held": held})

    def ev(h, cut=None):
        keep = h["step"] <= (cut or h["step"][-1])
        steps = h["step"][keep]
        return {"late_d_acc_fake": float(np.mean(h["d_acc_fake"][keep][steps >= 2 * steps[-1] / 3])),
                "g_loss_curve": h["g_loss"][keep].tolist(), "g_loss_steps": steps.tolist(),
                "fid_steps": [0, 800, 1600, 2400], "fid_curve": [300.0, 150.0, 390.0, 200.0]}  # garbage's FID moves

    h = f1_history(2400)
    full = f1_collapse.validity(ev(h), ValidityParams(), rule)
    assert full["d_in_control"]["ok"] and full["g_loss_levelled"]["ok"], full
    tenth = f1_collapse.validity(ev(h, cut=240), ValidityParams(), rule)
    assert not tenth["g_loss_levelled"]["ok"], tenth
    lost = {**h, "d_acc_fake": np.where(h["step"] > 1600, 0.6, 0.99)}  # G escaped: D no longer in control
    assert not f1_collapse.validity(ev(lost), ValidityParams(), rule)["d_in_control"]["ok"]


def test_the_rule_tells_a_tiny_long_run_from_its_tenth():
    """Real training, small: an fc GAN on bundled digits for 400 steps and for 40, ten snapshots
    each, FID of 7 x 7 average-pooled pixels (a feature space that needs no trained classifier);
    the long run has come down and levelled off, the short one has not."""
    import torch

    from ganpipe.data.images import to_tensor
    from ganpipe.data.mnist import load_bundled
    from ganpipe.measures import metrics
    from ganpipe.training import objectives
    from ganpipe.training.loop import fit

    torch.set_num_threads(1)
    images = load_bundled()[0]
    features = lambda x: (x.reshape(len(x), 7, 4, 7, 4).mean((2, 4)) / 255.0).reshape(len(x), -1)  # noqa: E731
    real = features(images[2000:2256])

    def curve(steps: int) -> tuple[list, list]:
        cfg = parse_params({"gan": {"generator": "fc", "steps": steps, "grid_every": steps // 10, "batch_size": 32,
                                    "snapshot_size": 256, "log_every": steps // 10}}).gan
        result = fit(objectives.build("gan", cfg, seed=0), to_tensor(images[:2000]), cfg, seed=0, digest="t",
                     progress=False)
        at = sorted(result.snapshots)
        return at, [metrics.fid(real, features(result.snapshots[s])) for s in at]

    long, short = curve(400), curve(40)
    cal = trained.calibrate({"long": long}, {"tenth": short}, at=0.5)
    assert cal["separates"], cal
    assert trained.trained(*long, cal)["ok"] and not trained.trained(*short, cal)["ok"]


def test_a_tenth_worse_than_the_untrained_generator_gives_a_finite_limit():
    """Early GAN training often raises FID above the untrained generator's: such a run has gained
    nothing yet (recent = 1), and the limit stays between the controls, not at infinity."""
    worse = [347.0, 700.0, 650.0, 600.0, 560.0, 545.0, 550.0, 520.0, 480.0, 430.0, 419.0]
    w = trained.windows(SHORT_STEPS, worse)
    assert w["recent"] == 1.0 and w["untrained"] == pytest.approx(w["remaining"]) and w["remaining"] > 1
    cal = trained.calibrate({"long": (STEPS, LONG)}, {"tenth": (SHORT_STEPS, worse)}, at=0.5)
    assert cal["separates"] and np.isfinite(cal["threshold"])
    assert cal["threshold"] == pytest.approx((48.5 / 450 + w["untrained"]) / 2)


def test_the_levelled_check_judges_nothing_when_its_known_runs_do_not_separate():
    """A long run whose loss still climbs at the end is no run of known state: the calibration does
    not separate, and the check then passes no run, however flat."""
    t = np.arange(25, 4801, 25)
    climbing = (t.tolist(), np.where(t < 3200, 10.0, t / 100.0 - 22).tolist())  # flat, then climbing at the end
    held = trained.calibrate_held({"climbing": climbing}, cut=240, at=0.5)
    assert not held["separates"]
    flat = trained.levelled(t.tolist(), [10.0] * len(t), "G's loss", held)
    assert not flat["ok"] and "calibration" in flat["required"]
    assert trained.still_moving(t.tolist(), [10.0] * len(t)) == 0.0


@pytest.mark.parametrize("change", [{"lr_d": 2.0e-3}, {"steps": 2400}])
def test_findings_refuses_known_runs_that_are_not_the_arm_at_a_longer_budget(change):
    """F1's runs of known state must be its arm's configuration, only longer: else the limit they
    set would be a different run's."""
    from ganpipe.params import ParamsError
    from ganpipe.pipeline.findings import check_experiments

    from conftest import project_params

    raw = project_params()
    raw["findings"]["experiments"][trained.HELD["experiment"]].update(change)
    with pytest.raises(ParamsError, match=f"findings.experiments.{trained.HELD['experiment']}: must be "
                                          f"{trained.HELD['arm']}'s configuration at a longer budget"):
        check_experiments(parse_params(raw, "params.yaml"))
    assert check_experiments(parse_params(project_params(), "params.yaml"))  # the committed params pass
