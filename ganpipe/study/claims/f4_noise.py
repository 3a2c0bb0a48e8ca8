"""F4: an all fully-connected generator shows digit shapes early, but the noise around the digit does
not fade with more training. The three output heads (fc, conv3, conv5) are one experiment family:
this module also draws their shared figure."""

from __future__ import annotations

from ganpipe.params import ValidityParams
from ganpipe.report.figures import grids_figure
from ganpipe.report.render import ReportInputs
from ganpipe.report.tables import fmt
from ganpipe.study.claims.claim import Claim, record
from ganpipe.study.evidence import HEADS, Context, Runs, at, formed_step, heads
from ganpipe.study.verdicts import check


def head_experiments(own: str):
    """The experiments a head claim reads: its own head first (its conditions), then the others."""
    return lambda sweep: [HEADS[own]] + [n for n in HEADS.values() if n != HEADS[own]]


def equal_steps(steps: dict[str, int]) -> dict:
    return check(steps, "every run compared trained for the same number of steps", len(set(steps.values())) == 1)


def head_validity(*names: str):
    """Validity of a head comparison: the heads it reads are trained, at equal steps."""
    def validity(ev: dict, v: ValidityParams, rule) -> dict:
        out = {f"trained_{h}": rule.trained(ev["fid_steps"], ev["fid_curves"][h]) for h in names}
        out["equal_steps"] = equal_steps(ev["head_steps"])
        return out
    return validity


def evidence(runs: Runs, cond: str, seed: int, ctx: Context, step: int | None = None) -> dict:
    """The fc head's background noise where its digits formed (ctx.formed_within) and at the step judged."""
    s, common = heads(runs, cond, seed, step)
    fc = s["fc"]
    formed = formed_step(runs.series(HEADS["fc"], cond, seed), ctx.formed_within)
    return {"fc_noise_formed": at(fc, "background_noise", formed), "fc_noise_end": fc["background_noise"][-1],
            "formed_step": formed, "fc_fid_formed": at(fc, "fid", formed), "fc_fid_end": fc["fid"][-1],
            "fc_confidence_formed": at(fc, "confidence", formed), "real_noise": ctx.real["background_noise"], **common}


def judge(ev: dict, t: dict) -> dict:
    fade = (ev["fc_noise_formed"] - ev["fc_noise_end"]) / max(ev["fc_noise_formed"], 1e-9)
    return record(
        "An all fully-connected generator shows digit shapes after ~600 batches, but the noise around "
        "the digit does not fade with more training.",
        "background noise (mean intensity more than 3 pixels from the digit's body) of fixed-noise samples, "
        "from the snapshot where the digits formed (FID within findings.validity.formed_within x its final "
        "level) to the end",
        {**ev, "fade_after_formed": fade},
        {"background_noise": t["background_noise"], "f4_fade_max": t["f4_fade_max"]},
        {"noisy_at_end": ev["fc_noise_end"] >= t["background_noise"], "noise_does_not_fade": fade <= t["f4_fade_max"]},
    )


def section(f: dict, r: ReportInputs) -> list[str]:
    """The three heads over training: grids, background noise, edge sharpness and FID, every seed."""
    o, ev = f["observed"], r.evidence
    panels = {}
    line = ev["controls"]["background_noise"]["threshold"]
    for head, name in HEADS.items():
        steps, images = r.snaps[name]  # the first seed's snapshots
        series = ev["series"][f"{name}/base/seed_{ev['seeds'][0]}"]
        for i in sorted({0, len(steps) // 2, len(steps) - 1}):
            noise = series["background_noise"][series["step"].index(int(steps[i]))]
            panels[f"{head}, step {steps[i]}\nnoise {fmt(noise)} {'>=' if noise >= line else '<'} {fmt(line)}"] = images[i][:25]
    path_grid = r.figs.add("f4_heads_over_steps.png", grids_figure(panels, ncols=3, size=2.2))
    fig, axes = r.plt.subplots(1, 3, figsize=(12, 3))
    for color, (head, name) in zip(r.sns.color_palette(n_colors=3), HEADS.items()):
        for i, seed in enumerate(ev["seeds"]):
            s = ev["series"][f"{name}/base/seed_{seed}"]
            label = head if i == 0 else None
            for ax, key in zip(axes, ("background_noise", "edge_sharpness", "fid")):
                ax.plot(s["step"], s[key], "o-", color=color, ms=3, lw=1, label=label)
    for ax, key in zip(axes[:2], ("background_noise", "edge_sharpness")):
        ax.axhline(ev["real"][key], color="k", ls=":", label="real")
        ax.axhline(ev["controls"][key]["threshold"], color="r", ls="--", label="threshold")
    for ax, title in zip(axes, ("background noise", "edge sharpness (low: blur)", f"FID at n={ev['snapshot_n']}")):
        ax.set_title(title), ax.set_xlabel("step"), ax.legend(fontsize=7)
    path_curves = r.figs.add("f4_heads_measures.png", fig)
    return [f"![F4 grids]({path_grid})", "", f"Grids: seed {ev['seeds'][0]}, each titled with its background noise against "
            f"the line from the controls ({fmt(line)}; the check reads the median over the last third). Curves: every seed "
            "(one line per seed), "
            "the FID panel is what the `trained` validity checks read; F4's fade is measured from the snapshot "
            f"where the fc head's digits formed (mean over seeds: step {fmt(o.get('formed_step', float('nan')))}).", "",
            f"![F4 measures]({path_curves})", ""]


SAID = {"noise_does_not_fade": "the fc head's noise did not fade over training", "noisy_at_end": "its samples were noisy at the end"}

CLAIM = Claim("F4", "Fully connected generator: noise around the digit", judge, section,
              experiments=head_experiments("fc"), measures=("background_noise",),
              lines={"fc_noise_end": "background_noise"}, evidence=evidence,
              validity=head_validity("fc"), map_samples=(HEADS["fc"],), said=SAID)
