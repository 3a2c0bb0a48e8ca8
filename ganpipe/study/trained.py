"""The trained rule: a run counts as trained when its FID has come down and stopped coming down.

GAN training oscillates (unregularised GANs and WGANs need not converge, Mescheder et al. 2018),
so a flat curve is the wrong test; published studies fix a budget and judge checkpoints. The rule
reads windows of snapshots (each snapshot's FID at findings.fid_snapshot_n, on fixed noise): the
first snapshot (step 0, the untrained generator), and the medians of the middle and the last
third of training (m, l).

    remaining = l / first                  how much of the untrained generator's FID is still there
    recent    = (m - l) / (first - l)      how much of the gain came in the last stretch (1: no gain yet)
    trained   = max(remaining, recent) <= limit

Both are small for a run that learned and levelled off; a run cut short is either still high
(a WGAN that has not started: remaining ~1) or still gaining fast (recent large). The rule is
proven on runs of known state before it judges any experiment: the main GAN and the main WGAN at
their budgets must pass, the same configurations at a tenth of their budgets (experiments
trained_*_tenth) must fail, and `limit` sits between the two by the controls' declared rule
(findings.controls.threshold_at).

An arm meant to fail is not asked to learn, nor to settle: F3b reads its large clip's whole run,
and F1's collapse is asked that its failure holds, read on the quantity that describes the failure
rather than on the FID of garbage (which keeps moving): G's loss has levelled,

    moving    = |m - l| / (max - min)      how much of the range the series covered its last stretch still moves

with its own runs of known state (HELD): the arm's configuration at twice its budget, at seeds of
its own, must pass; the same runs cut at a tenth of the arm's budget, the loss still climbing, must
fail; the limit sits between them by the same declared rule. (The FIDs' plateau, |m - l| / m, was
this check's first limit: G's loss under a winning D swings between about 7 and 14 for thousands
of steps, and no budget kept every seed within it, see docs/verdicts.md.)
"""

from __future__ import annotations

import numpy as np

from ganpipe.measures.controls import separation
from ganpipe.study.verdicts import check

MIN_WINDOW = 2  # snapshots per third, at least


def thirds(steps: list[int], fids: list[float]) -> tuple[list[float], list[float]]:
    """FIDs of the middle and the last third of training, by step."""
    last = steps[-1]
    middle = [f for t, f in zip(steps, fids) if last / 3 <= t < 2 * last / 3]
    late = [f for t, f in zip(steps, fids) if t >= 2 * last / 3]
    return middle, late


def windows(steps: list[int], fids: list[float]) -> dict | None:
    """The rule's numbers for one curve (None: too few snapshots to judge windows)."""
    middle, late = thirds(steps, fids)
    if len(middle) < MIN_WINDOW or len(late) < MIN_WINDOW:
        return None
    first, m, l = float(fids[0]), float(np.median(middle)), float(np.median(late))
    remaining = l / first
    # no gain over the untrained generator at all (early GAN training often makes FID worse before
    # better): all of the gain is still to come
    recent = (m - l) / (first - l) if first > l else 1.0
    return {"first": first, "middle": m, "last": l, "remaining": remaining, "recent": recent,
            "untrained": max(remaining, recent)}


def calibrate(long: dict[str, tuple[list, list]], short: dict[str, tuple[list, list]], at: float,
              noise: dict | None = None) -> dict:
    """The rule on runs of known state: `long` must pass, `short` must fail (name -> steps, FIDs)."""
    long_w = {k: windows(*v) for k, v in long.items()}
    short_w = {k: windows(*v) for k, v in short.items()}
    out = {"long": long_w, "short": short_w}
    if noise is not None:
        out["noise"] = noise
    missing = [k for k, w in {**long_w, **short_w}.items() if w is None]
    if missing:
        return {**out, "separates": False, "threshold": None,
                "why": f"too few snapshots to judge windows in {', '.join(missing)}"}
    sep = separation([w["untrained"] for w in short_w.values()], [w["untrained"] for w in long_w.values()], +1, at)
    return {**out, **sep}


def trained(steps: list[int], fids: list[float], calibration: dict) -> dict:
    """One run's trained check, by the calibrated rule."""
    w = windows(steps, fids)
    limit = calibration.get("threshold")
    if not calibration["separates"] or limit is None:
        return check(w and w["untrained"], "the trained rule failed its calibration (see the report): no run can "
                     "be judged", False)
    if w is None:
        return check(None, f"at least {MIN_WINDOW} snapshots in each of the middle and last thirds", False)
    return check(round(w["untrained"], 4), f"max(remaining, recent) <= {limit:.3g}: the FID came down and levelled "
                 "off (medians over the middle and last thirds)", w["untrained"] <= limit)


def still_moving(steps: list[int], values: list[float]) -> float | None:
    """The share of a series' range that its last stretch still moves: medians of the middle and
    the last third, against max - min over everything logged (None: too few values to judge)."""
    if not len(steps):
        return None
    middle, late = thirds(steps, values)
    if len(middle) < MIN_WINDOW or len(late) < MIN_WINDOW:
        return None
    span = float(np.max(values) - np.min(values))
    return abs(float(np.median(middle)) - float(np.median(late))) / span if span > 0 else 0.0


def calibrate_held(long: dict[str, tuple[list, list]], cut: int, at: float) -> dict:
    """The levelled check on runs of known state (name -> steps, values): each long run must pass;
    the same run cut at `cut` steps (a tenth of the judged arm's budget) must fail."""
    def upto(steps, values):
        keep = np.asarray(steps) <= cut
        return np.asarray(steps)[keep].tolist(), np.asarray(values)[keep].tolist()

    long_v = {k: still_moving(*v) for k, v in long.items()}
    short_v = {k: still_moving(*upto(*v)) for k, v in long.items()}
    out = {"cut": cut, "long": long_v, "short": short_v}
    missing = [k for k, v in {**long_v, **short_v}.items() if v is None]
    if missing:
        return {**out, "separates": False, "threshold": None,
                "why": f"too few values to judge windows in {', '.join(missing)}"}
    return {**out, **separation(list(short_v.values()), list(long_v.values()), +1, at)}


def levelled(steps: list[int], values: list[float], what: str, held: dict) -> dict:
    """A failure that holds: `what` (a series by step) no longer moves more of its range from the
    middle to the last third than the held rule's calibration allows."""
    moving, limit = still_moving(steps, values), held.get("threshold")
    if not held.get("separates") or limit is None:
        return check(moving, "the levelled check failed its calibration (see the report): no run can be judged",
                     False)
    if moving is None:
        return check(None, f"at least {MIN_WINDOW} values in each of the middle and last thirds", False)
    return check(round(moving, 4), f"{what} moved at most {limit:.1%} of its range from the middle to the last "
                 "third (medians), as runs known to have settled do", moving <= limit)


def resampling_noise(fid_of_draw, draws: int) -> dict:
    """The snapshot FID's spread over fresh noise draws from one frozen generator: how much of a
    curve's wiggle is sampling, not training. `fid_of_draw(i)` scores draw i."""
    values = np.array([fid_of_draw(i) for i in range(draws)])
    mean, std = float(values.mean()), float(values.std(ddof=1))
    return {"draws": draws, "mean": mean, "std": std, "relative": std / mean, "values": values.tolist()}


# findings experiments: the main models' default configurations at their budgets (must pass) and at a
# tenth of them (must fail). Experiments of their own, not the main models: a knob a user turns on the
# main WGAN (a clip that ruins it) must not move the limit every claim's runs are judged by.
LONGS = ("trained_gan_full", "trained_wgan_full")
TENTHS = ("trained_gan_tenth", "trained_wgan_tenth")
# a findings experiment: F1's arm at twice its budget, at seeds of its own; what it calibrates is the
# levelled check on G's loss (`levelled`)
HELD = {"experiment": "f1_known_long", "arm": "f1_strong_d", "series": "g_loss"}


def calibration(params, runs, clf, real_feats) -> dict:
    """The rule on runs of known state: the default GAN and WGAN at their budgets (LONGS) and at a
    tenth of them (TENTHS), every seed, and the snapshot FID's spread over fresh noise draws from
    the first long GAN's frozen generator."""
    import torch

    from ganpipe.data.images import to_uint8
    from ganpipe.measures import metrics
    from ganpipe.running.files import load_torch
    from ganpipe.study import conditions
    from ganpipe.training import objectives

    f = params.findings

    def curves(names: tuple[str, ...]) -> dict:
        out = {}
        for name in names:
            for seed in f.seeds:
                s = runs.series(name, conditions.BASE, seed)
                out[f"{name} seed {seed} ({s['step'][-1]} steps)"] = (s["step"], s["fid"])
        return out

    long, short = curves(LONGS), curves(TENTHS)
    gan_name = LONGS[0]
    gan = objectives.build("gan", f.experiments[gan_name], seed=f.seeds[0])
    gan.G.load_state_dict(load_torch(runs.folder(gan_name, conditions.BASE, f.seeds[0]) / "generator.pt"))
    gan.G.eval()

    def fid_of_draw(i: int) -> float:
        z = torch.randn(len(real_feats), gan.latent, generator=torch.Generator().manual_seed(10_000 + i))
        return metrics.fid(real_feats, clf.embed(to_uint8(gan.generate(z)))[0])

    out = calibrate(long, short, f.controls.threshold_at, resampling_noise(fid_of_draw, f.validity.noise_draws))
    out["curves"] = {k: {"step": v[0], "fid": v[1]} for k, v in {**long, **short}.items()}
    out["held"] = held_calibration(params, runs)
    return out


def held_calibration(params, runs) -> dict:
    """The levelled check on its runs of known state (HELD), cut at a tenth of the arm's budget."""
    from ganpipe.study import conditions

    f = params.findings
    (own, *_) = conditions.conditions(f.experiments[HELD["experiment"]], f.seeds, f.map_seeds)
    long = {}
    for seed in own.seeds:  # its own seeds, as its stage ran them
        h = runs.run(HELD["experiment"], own.name, seed).history
        long[f"seed {seed} ({int(h['step'][-1])} steps)"] = (h["step"].tolist(), h[HELD["series"]].tolist())
    return {**HELD, **calibrate_held(long, f.experiments[HELD["arm"]].steps // 10, f.controls.threshold_at)}


class Rule:
    """The calibrated rule, as the claims' validity checks call it."""

    def __init__(self, calibration: dict):
        self.calibration = calibration

    def trained(self, steps: list[int], fids: list[float]) -> dict:
        return trained(steps, fids, self.calibration)

    def levelled(self, steps: list[int], values: list[float], what: str) -> dict:
        return levelled(steps, values, what, self.calibration.get("held", {}))
