"""F5: the conv + upsample generator with two parallel output convs was needlessly complex and slow,
and trained worse than the simple designs."""

from __future__ import annotations

import numpy as np

from ganpipe.params import ValidityParams
from ganpipe.report.render import ReportInputs
from ganpipe.report.tables import fmt
from ganpipe.study import conditions
from ganpipe.study.claims.claim import Claim, record
from ganpipe.study.evidence import HEADS, Context, Runs, at, upto
from ganpipe.study.verdicts import check

EXPERIMENT = "f5_upsample"
BASELINE = HEADS["conv5"]


def evidence(runs: Runs, cond: str, seed: int, ctx: Context, step: int | None = None) -> dict:
    """The upsample generator against the conv5 head (its base condition, same seed), at equal steps
    and at equal compute: floating-point operations per training step, the same on every machine
    (the wall clock of runs that share the cores is not). Where the upsample run used more compute
    than the whole conv5 run, conv5 is read at its end: with less compute it is compared all the same,
    and if it is still the better one, it is better at equal compute too."""
    full, c5 = runs.series(EXPERIMENT, cond, seed), runs.series(BASELINE, conditions.BASE, seed)
    up_steps = int(step or full["step"][-1])
    up_s = upto(full, up_steps)
    up_flops, c5_flops = ctx.flops[EXPERIMENT], ctx.flops[BASELINE]
    budget = up_steps * up_flops
    c5_steps = np.array(c5["step"])
    equal_step = _last_at_most(c5_steps * c5_flops, budget, c5_steps)
    # equal steps: the last step at which both runs took a snapshot, so neither is read later than the other
    common = sorted(set(int(x) for x in up_s["step"]) & set(int(x) for x in c5_steps))
    steps_step = common[-1] if common else _last_at_most(c5_steps, up_steps, c5_steps)
    up_run, c5_run = runs.run(EXPERIMENT, cond, seed), runs.run(BASELINE, conditions.BASE, seed)
    return {"step": up_steps, "upsample_flops_per_step": up_flops, "conv5_flops_per_step": c5_flops,
            "upsample_steps": int(full["step"][-1]), "conv5_last_step": int(c5_steps[-1]),
            "upsample_fid_equal_steps": at(up_s, "fid", steps_step) if common else up_s["fid"][-1],
            "conv5_step_at_equal_steps": steps_step, "conv5_fid_equal_steps": at(c5, "fid", steps_step),
            "equal_compute_flops": budget, "conv5_step_at_equal_compute": equal_step,
            # conv5's compute at the snapshot read, as a share of the upsample run's: below 1 where the whole
            # conv5 run used less compute than the upsample run (then it is compared with less, as the label says)
            "conv5_compute_share": equal_step * c5_flops / max(budget, 1),
            "upsample_fid_equal_compute": up_s["fid"][-1], "conv5_fid_equal_compute": at(c5, "fid", equal_step),
            "upsample_seconds_per_step": up_run.timing["seconds_per_step"],  # shown, never judged
            "conv5_seconds_per_step": c5_run.timing["seconds_per_step"],
            "fid_curves": {"upsample": full["fid"]}, "fid_steps": full["step"]}


def _last_at_most(values: np.ndarray, limit: float, steps: np.ndarray) -> int:
    """The last snapshot step whose value is at most `limit` (the first snapshot if none is)."""
    below = steps[values <= limit]
    return int(below[-1]) if len(below) else int(steps[0])


def judge(ev: dict, t: dict) -> dict:
    ratio = ev["upsample_flops_per_step"] / max(ev["conv5_flops_per_step"], 1)
    return record(
        "The conv + upsample generator with two parallel output convs was needlessly complex and slow, "
        "and trained worse than the simple designs.",
        "upsample generator against the conv5 head: floating-point operations per training step (the same "
        "on every machine), FID at equal steps and at equal compute (fixed-noise snapshots)",
        {**ev, "cost_ratio": ratio},
        {"f5_slowdown_min": t["f5_slowdown_min"]},
        {"slower": ratio >= t["f5_slowdown_min"],
         "worse_at_equal_compute": ev["upsample_fid_equal_compute"] > ev["conv5_fid_equal_compute"]},
    )


def validity(ev: dict, v: ValidityParams, rule) -> dict:
    return {"equal_steps_reached": check({"upsample": ev["upsample_steps"], "conv5": ev["conv5_last_step"]},
                                         "the conv5 run reached the upsample run's steps",
                                         ev["conv5_last_step"] >= ev["upsample_steps"]),
            "trained_upsample": rule.trained(ev["fid_steps"], ev["fid_curves"]["upsample"])}


def section(f: dict, r: ReportInputs) -> list[str]:
    o, ev = f["observed"], r.evidence
    fig, ax = r.plt.subplots(figsize=(6, 3))
    for color, (name, label) in zip(r.sns.color_palette(n_colors=2), ((BASELINE, "conv5 head"),
                                                                       (EXPERIMENT, "upsample + two convs"))):
        for i, seed in enumerate(ev["seeds"]):
            s = ev["series"][f"{name}/base/seed_{seed}"]
            ax.plot(np.array(s["step"]) * ev["flops"][name] / 1e12, s["fid"], "o-", color=color, ms=3, lw=1,
                    label=label if i == 0 else None)
    ax.set_xlabel("training compute (TFLOP)"), ax.set_ylabel("FID"), ax.legend(fontsize=7)
    path = r.figs.add("f5_fid_vs_compute.png", fig)
    return [f"![F5]({path})", "", f"A training step of the upsample generator costs {fmt(o['upsample_flops_per_step'] / 1e9)} "
            f"GFLOP against {fmt(o['conv5_flops_per_step'] / 1e9)} for the conv5 head ({fmt(o['cost_ratio'])}x; counted, "
            f"the same on every machine; the wall clock, {fmt(o['upsample_seconds_per_step'])} against "
            f"{fmt(o['conv5_seconds_per_step'])} s per step, is shown, never judged: it is what each run got of cores "
            f"shared with the study's other runs, and the pool gives a cheaper run a smaller share). Means over "
            f"seeds: at the same step ({fmt(o['conv5_step_at_equal_steps'])}, a step both runs took a snapshot at) "
            f"FID {fmt(o['upsample_fid_equal_steps'])} for the upsample generator against "
            f"{fmt(o['conv5_fid_equal_steps'])} for conv5. By compute (each number the median over the snapshots "
            f"of the last third of the upsample run's {fmt(o['upsample_steps'])} steps): the upsample run at "
            f"{fmt(o['equal_compute_flops'] / 1e12)} TFLOP is at FID "
            f"{fmt(o['upsample_fid_equal_compute'])}; conv5 at step {fmt(o['conv5_step_at_equal_compute'])}, with "
            f"{fmt(100 * o['conv5_compute_share'])}% of that compute"
            f"{' (its whole run)' if o['conv5_compute_share'] < 0.99 else ''}, is at "
            f"{fmt(o['conv5_fid_equal_compute'])}: the check asks whether the upsample generator is worse with at "
            "least as much compute.", ""]


SAID = {"slower": "the upsample generator cost more per step", "worse_at_equal_compute": "it was worse at equal compute"}

CLAIM = Claim("F5", "The over-complex upsample generator", judge, section,
              experiments=lambda sweep: [EXPERIMENT, BASELINE], evidence=evidence, validity=validity, own_conditions=True, said=SAID)
