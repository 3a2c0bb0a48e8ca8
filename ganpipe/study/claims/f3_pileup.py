"""F3: weight clipping piles the critic's weights up at the clip boundary."""

from __future__ import annotations

import numpy as np

from ganpipe.params import ValidityParams
from ganpipe.report.render import ReportInputs
from ganpipe.report.tables import table
from ganpipe.study.claims.claim import Claim, first_seed, record
from ganpipe.study.evidence import Context, Runs, history_upto, sweep
from ganpipe.study.verdicts import check


def evidence(runs: Runs, cond: str, seed: int, ctx: Context, step: int | None = None) -> dict:
    """The pile-up at the paper's clip, from the saved critic at the end; at an earlier snapshot, from
    the share the training loop logged (the same definition: every clipped parameter within 1% of +-c)."""
    shares, paper, largest = sweep(runs, cond, seed, ctx)
    run = runs.run(paper, cond, seed)
    if step is not None and step < run.history["step"][-1]:
        share = float(history_upto(run, step)["clip_boundary_share"][-1])
    else:
        share = shares[str(ctx.clips[paper])]
    return {"step": int(step or run.history["step"][-1]), "experiment": paper, "clip": ctx.clips[paper],
            "boundary_share": share, "boundary_share_by_clip": shares, "paper_clip": str(ctx.clips[paper]),
            "largest_clip": str(ctx.clips[largest]),
            "fid_curves": {str(ctx.clips[n]): runs.series(n, cond, seed)["fid"] for n in ctx.sweep},
            "fid_steps": runs.series(paper, cond, seed)["step"]}


def judge(ev: dict, t: dict) -> dict:
    return record(
        "Weight clipping enforces a Lipschitz bound but works poorly: the critic's weights pile up "
        "at the clip boundary.",
        "share of clipped critic parameters within 1% of +-c, at the WGAN paper's clip (spread evenly: 1%)",
        ev,
        {"boundary_share": t["boundary_share"]},
        {"weights_at_boundary": ev["boundary_share"] >= t["boundary_share"]},
    )


def clip_binds(shares: dict[str, float], v: ValidityParams) -> dict:
    """The pile-up needs a clip that binds: at the paper's (smallest) clip some weights sit at +-c."""
    return check(shares, f"share of weights at +-c above {v.clip_binds_share_min:g} at the paper's clip",
                 bool(shares) and min(shares.items(), key=lambda kv: float(kv[0]))[1] > v.clip_binds_share_min)


def validity(ev: dict, v: ValidityParams, rule) -> dict:
    return {"clip_binds": clip_binds(ev["boundary_share_by_clip"], v),
            "trained_at_paper_clip": rule.trained(ev["fid_steps"], ev["fid_curves"][ev["paper_clip"]])}


def section(f: dict, r: ReportInputs) -> list[str]:
    seed, _ = first_seed(f)
    names, clips = r.evidence["sweep"], r.evidence["clips"]
    fig, axes = r.plt.subplots(1, len(names), figsize=(3.2 * len(names), 2.8), squeeze=False)
    for ax, name in zip(axes[0], names):
        hist = r.evidence["histograms"][f"{name}/base/seed_{seed}"]
        centers = (np.array(hist["edges"][:-1]) + np.array(hist["edges"][1:])) / 2
        ax.bar(centers, np.array(hist["counts"]) / sum(hist["counts"]), width=centers[1] - centers[0])
        ax.set_title(f"c = {clips[name]}: {100 * hist['boundary_share']:.1f}% at +-c\n"
                     f"(line {100 * f['thresholds']['boundary_share']:.2f}%; spread evenly: 1%)", fontsize=8)
        ax.set_xlabel("weight / c")
    path = r.figs.add("f3_weight_histograms.png", fig)
    rows = [[c] + [f["seeds"][s]["observed"]["boundary_share_by_clip"][c] for s in f["seeds"]]
            for c in next(iter(f["seeds"].values()))["observed"]["boundary_share_by_clip"]]
    fig, ax = r.plt.subplots(figsize=(6, 3))
    for color, name in zip(r.sns.color_palette(n_colors=len(names)), names):
        for i, s in enumerate(f["seeds"]):
            curve = r.evidence["series"][f"{name}/base/seed_{s}"]
            ax.plot(curve["step"], curve["fid"], "o-", color=color, ms=3, lw=1, label=f"c = {clips[name]}" if i == 0 else None)
    ax.set_xlabel("step"), ax.set_ylabel(f"FID at n={r.evidence['snapshot_n']}"), ax.legend(fontsize=7)
    curves = r.figs.add("f3_sweep_fid.png", fig)
    return [f"![F3]({path})", "", f"Critic weight histograms at seed {seed}. Share of weights within 1% of +-c, "
            "every clip and seed:", "", table(["clip"] + [f"seed {s}" for s in f["seeds"]], rows), "",
            f"![F3 sweep FID]({curves})", "", "FID of the sweep's runs over training, every seed (what the `trained` "
            "validity checks read: the middle and last thirds).", ""]


SAID = {"weights_at_boundary": "the critic's weights piled up at the clip"}

CLAIM = Claim("F3", "Weight clipping piles weights at the boundary", judge, section,
              experiments=lambda names: names, measures=("boundary_share",),
              lines={"boundary_share": "boundary_share"}, evidence=evidence, validity=validity, said=SAID)
