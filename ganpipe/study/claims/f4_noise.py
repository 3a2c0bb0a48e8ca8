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
            "fc_confidence_formed": at(fc, "confidence", formed), "real_noise": ctx.real["background_noise"],
            "fc_high_band_formed": at(fc, "high_band", formed) / ctx.real["high_band"],
            "fc_high_band_end": fc["high_band"][-1] / ctx.real["high_band"], **common}


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
    path_bands, bands_text = spectra(r)
    return [f"![F4 grids]({path_grid})", "", f"Grids: seed {ev['seeds'][0]}, each titled with its background noise against "
            f"the line from the controls ({fmt(line)}; the check reads the median over the last third). Curves: every seed "
            "(one line per seed), "
            "the FID panel is what the `trained` validity checks read; F4's fade is measured from the snapshot "
            f"where the fc head's digits formed (mean over seeds: step {fmt(o.get('formed_step', float('nan')))}).", "",
            f"![F4 measures]({path_curves})", "", f"![F4 spectra]({path_bands})", "", bands_text, ""]


def spectra(r: ReportInputs) -> tuple[str, str]:
    """Each head's power spectrum over training, in bands, against the real digits' (1), every
    seed; with the lines the blur and noise controls give the high band. The figure and its caption."""
    ev = r.evidence
    deficit, excess = ev["controls"]["high_band_deficit"], ev["controls"]["high_band_excess"]
    fig, axes = r.plt.subplots(1, 3, figsize=(12, 3), sharey=True)
    end = {}
    for ax, (head, name) in zip(axes, HEADS.items()):
        for i, seed in enumerate(ev["seeds"]):
            s = ev["series"][f"{name}/base/seed_{seed}"]
            for band, style in (("high", "o-"), ("mid", "s--")):
                ratio = [v / ev["real"][f"{band}_band"] for v in s[f"{band}_band"]]
                ax.plot(s["step"], ratio, style, color="C0" if band == "high" else "C2", ms=3, lw=1,
                        label=f"{band} band" if i == 0 else None)
            end.setdefault(head, []).append(s["high_band"][-1] / ev["real"]["high_band"])
        ax.axhline(1.0, color="k", ls=":", label="real digits")
        ax.axhline(deficit["threshold"], color="r", ls="--", label="high band: blur line (controls)")
        ax.set_yscale("log"), ax.set_title(f"{head} head"), ax.set_xlabel("step"), ax.legend(fontsize=7)
    axes[0].set_ylabel("band's share / real digits'")
    path = r.figs.add("f4_heads_spectra.png", fig)
    faint = next(n["value"] for n in excess["negatives"] if n["name"] == "the faintest 10%")
    blur = (f"below {fmt(deficit['threshold'])} it is blur as the controls draw it" if deficit["separates"] else
            "the blur controls do not separate from the negatives, so a low share is a description only")
    noise = (f"above {fmt(excess['threshold'])} it is noise as the controls draw it" if excess["separates"] else
             f"noise raises it, but so do thin strokes (the faintest real digits read {fmt(faint)}, the weakest "
             f"noise {fmt(excess['weakest_dose'])}), so a share above 1 is shown, not read as noise")
    text = (f"Spectra: the share of each head's power above 0.25 cycles per pixel (high band) and from 0.125 to 0.25 "
            f"(mid band), over the real digits' share (1: as real digits), every seed. At the end, mean over seeds, "
            f"the high band is at {', '.join(f'{h} {fmt(sum(v) / len(v))}' for h, v in end.items())}. On the "
            f"controls, {blur}; {noise}.")
    return path, text


SAID = {"noise_does_not_fade": "the fc head's noise did not fade over training", "noisy_at_end": "its samples were noisy at the end"}

CLAIM = Claim("F4", "Fully connected generator: noise around the digit", judge, section,
              experiments=head_experiments("fc"), measures=("background_noise",),
              lines={"fc_noise_end": "background_noise"}, evidence=evidence,
              validity=head_validity("fc"), map_samples=(HEADS["fc"],), said=SAID)
