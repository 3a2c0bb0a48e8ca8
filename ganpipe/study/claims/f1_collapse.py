"""F1: a discriminator that keeps training unchecked collapses the generator to black images.

The note's sentence joins statements the runs may part: D wins and G's loss climbs; the images go
black at some point while D dominates (the note watched a run with no stopping rule); and they stay
black to the end. Each is judged on its own (`PARTS`) as well as together; the report also says per
seed when the samples went black and when they came back, how many of the output's pixels sat at
black, G's gradient, and which digits the samples were. The run is meant to fail,
so its validity asks that the failure holds (D in control, G's loss levelled), not that its FID,
the FID of garbage, has stopped moving."""

from __future__ import annotations

import numpy as np

from ganpipe.params import ValidityParams
from ganpipe.report.figures import tile
from ganpipe.report.render import ReportInputs
from ganpipe.report.tables import clauses, fmt, table
from ganpipe.study import conditions
from ganpipe.study.claims.claim import Claim, record
from ganpipe.study.evidence import Context, Runs, history_upto, upto
from ganpipe.study.verdicts import check

EXPERIMENT = "f1_strong_d"
PARTS = {"D wins and G's loss climbs": ("d_loss_collapsed", "g_loss_climbed"),
         "the images go black while D dominates": ("samples_black_at_some_point",),
         "they stay black to the end": ("samples_black",)}


def evidence(runs: Runs, cond: str, seed: int, ctx: Context, step: int | None = None) -> dict:
    """The extremes of the losses up to the step judged (the note says D loss 'falls to' and G loss
    'climbs to'), the share of black samples at that snapshot and at the blackest snapshot up to it,
    the share of pixels at black, the digits the samples were, D's accuracy on fakes over the last
    third, and G's loss over training (what validity reads)."""
    r, s = runs.run(EXPERIMENT, cond, seed), runs.series(EXPERIMENT, cond, seed)
    step = step or s["step"][-1]
    h, s = history_upto(r, step), upto(s, step)
    steps = h["step"]
    return {"step": int(step), "min_d_loss": float(h["d_loss"].min()), "max_g_loss": float(h["g_loss"].max()),
            "black_fraction": s["black_fraction"][-1], "black_at_some_snapshot": max(s["black_fraction"]),
            "pinned_black": s["pinned_black"][-1], "real_pinned_black": ctx.real["pinned_black"],
            "modes": s["modes"][-1], "top_class_share": s["top_class_share"][-1], "brightness": s["brightness"][-1],
            "peak_brightness": s["peak_brightness"][-1], "real_brightness": ctx.real["brightness"],
            "fid": s["fid"][-1], "late_d_acc_fake": float(np.mean(h["d_acc_fake"][steps >= 2 * steps[-1] / 3])),
            "g_loss_curve": h["g_loss"].tolist(), "g_loss_steps": steps.tolist(),
            "fid_curve": s["fid"], "fid_steps": s["step"]}


def judge(ev: dict, t: dict) -> dict:
    return record(
        "A discriminator that keeps training unchecked drives D loss to ~1e-4 and G loss to ~10, "
        "and the generator emits all-black images.",
        "strong-D GAN (5 D steps per G step, D lr 50x G lr): the lowest D loss and highest G loss reached, "
        "the share of black samples (brightest 1% of pixels below the controls' threshold) at the end and at "
        "the blackest snapshot, FID",
        ev,
        {k: t[k] for k in ("f1_d_loss_max", "f1_g_loss_min", "f1_black_min", "peak_brightness")},
        {
            "d_loss_collapsed": ev["min_d_loss"] <= t["f1_d_loss_max"],
            "g_loss_climbed": ev["max_g_loss"] >= t["f1_g_loss_min"],
            "samples_black_at_some_point": ev["black_at_some_snapshot"] >= t["f1_black_min"],
            "samples_black": ev["black_fraction"] >= t["f1_black_min"],
        },
    )


def validity(ev: dict, v: ValidityParams, rule) -> dict:
    """The failure holds through the last third of training: D stays in control (its accuracy on
    fakes stays high) and G's loss has levelled (the collapse is a state, not a passing spike). The
    generator is meant to fail, so neither its image quality nor its FID is asked."""
    return {"d_in_control": check(ev["late_d_acc_fake"], f"D's accuracy on fakes, mean over the last third of "
                                  f"training, >= {v.strong_d_acc_fake_min:g}",
                                  ev["late_d_acc_fake"] >= v.strong_d_acc_fake_min),
            "g_loss_levelled": rule.levelled(ev["g_loss_steps"], ev["g_loss_curve"], "G's loss")}


def _seeds(params) -> tuple[int, ...]:
    """The seeds the arm's own setting ran at: its own `seeds` where findings.yaml gives them."""
    f = params.findings
    return conditions.conditions(f.experiments[EXPERIMENT], f.seeds, f.map_seeds)[0].seeds


def held_rule_on_known_runs(runs: Runs, params, ctx: Context, rule) -> dict:
    """The validity rule on the judged runs, at their budget and cut at a tenth of it (G's loss still
    climbing: must fail). The rule's own proof is on runs of known state (trained.held_calibration)."""
    out = {}
    for seed in _seeds(params):
        logged = runs.run(EXPERIMENT, conditions.BASE, seed).history["step"]
        end = logged[-1]
        cut = max(int(logged[0]), int(end // 10))  # (a tiny run logs its first row after a tenth of it)
        checks = {at: validity(evidence(runs, conditions.BASE, seed, ctx, step), params.findings.validity, rule)
                  for at, step in (("full", None), ("tenth", cut))}
        out[str(seed)] = {"steps": {"full": int(end), "tenth": cut},
                          **{at: {k: c["value"] for k, c in v.items()} | {"ok": all(c["ok"] for c in v.values())}
                             for at, v in checks.items()}}
    out["tenths_fail"] = all(not r["tenth"]["ok"] for r in out.values())
    return out


# Logged by G's diagnostics on the probe codes (training.objectives.output_gradient): D's gradient at
# the pixels, what of it passes the output's slope into G, and the pixels saturated at black
OUTPUT_LAYER = ("g_grad_at_pixels", "g_grad_at_output", "g_pinned_black")


def timeline(s: dict, history: dict, black_min: float) -> dict:
    """One seed over training: when its samples went black (a snapshot's black share reached
    black_min) and came back, the snapshots' pixels at black and digits, and, at each snapshot, the
    size of G's whole gradient and of what reaches its output layer (the history's log row nearest
    the snapshot; step 0 has none and reads the first)."""
    black = [b >= black_min for b in s["black_fraction"]]
    went = next((i for i, b in enumerate(black) if b), None)
    back = next((i for i in range(went + 1, len(black)) if not black[i]), None) if went is not None else None
    logged = {k: [float(np.interp(t, history["step"], history[k])) for t in s["step"]]
              for k in ("d_loss", "g_grad_norm", *OUTPUT_LAYER)}
    return {"step": s["step"], "black_fraction": s["black_fraction"], "pinned_black": s["pinned_black"],
            "top_class_share": s["top_class_share"], "modes": s["modes"], **logged, "black": black,
            "went_black_at": None if went is None else s["step"][went],
            "came_back_at": None if back is None else s["step"][back],
            "black_snapshots": int(sum(black)), "snapshots": len(black)}


def black_and_back(lines: dict) -> dict:
    """What separates going black from coming back, over every seed's snapshots after step 0: the
    median of D's loss and of each output-layer reading at the black snapshots, at those that were
    not black, at the last black snapshot before each return and at the first one back."""
    def median(values: list) -> float | None:
        return float(np.median(values)) if values else None

    returns = [(s, i) for s in lines.values() for i in range(1, len(s["step"]) - 1) if s["black"][i] and not s["black"][i + 1]]
    out = {}
    for key in ("d_loss", *OUTPUT_LAYER):
        at = {"black": [s[key][i] for s in lines.values() for i in range(1, len(s["step"])) if s["black"][i]],
              "not_black": [s[key][i] for s in lines.values() for i in range(1, len(s["step"])) if not s["black"][i]],
              "before_return": [s[key][i] for s, i in returns], "back": [s[key][i + 1] for s, i in returns]}
        out[key] = {k: median(v) for k, v in at.items()}
    out["returns"] = len(returns)
    return out


def drawn(runs: Runs, params, ctx: Context, rule) -> dict:
    """Every seed's losses and timeline over training, for the figures, and the validity rule on runs
    of known state."""
    keys = ("step", "d_loss", "g_loss", "js_estimate", "d_acc_fake", "g_grad_norm", "g_grad_norm_saturating",
            "g_grad_norm_nonsaturating", *OUTPUT_LAYER)
    seeds = _seeds(params)
    history = {seed: runs.run(EXPERIMENT, conditions.BASE, seed).history for seed in seeds}
    black_min = params.findings.thresholds.f1_black_min
    lines = {str(seed): timeline(runs.series(EXPERIMENT, conditions.BASE, seed), history[seed], black_min)
             for seed in seeds}
    return {"F1_history": {str(seed): {k: history[seed][k].tolist() for k in keys} for seed in seeds},
            "F1_timeline": lines, "F1_black_and_back": black_and_back(lines),
            "F1_held_rule": held_rule_on_known_runs(runs, params, ctx, rule)}


def section(f: dict, r: ReportInputs) -> list[str]:
    o, t = f["observed"], f["thresholds"]
    seeds = list(f["seeds"])
    rows = 1 if len(seeds) <= 3 else 2  # more seeds: their samples in two rows beside the losses
    cols = -(-len(seeds) // rows)
    fig = r.plt.figure(figsize=(3.6 + 2.6 * cols, 3.2 * rows))
    grid = fig.add_gridspec(rows, 1 + cols, width_ratios=[1.6] + [1] * cols)
    axes = [fig.add_subplot(grid[:, 0])] + [fig.add_subplot(grid[i // cols, 1 + i % cols]) for i in range(len(seeds))]
    colors = r.sns.color_palette(n_colors=len(seeds))
    for color, seed in zip(colors, seeds):
        h = r.evidence["F1_history"][seed]
        axes[0].semilogy(h["step"], h["d_loss"], color=color, lw=1, label=f"D loss, seed {seed}")
        axes[0].semilogy(h["step"], h["g_loss"], color=color, lw=1, ls="--", label=f"G loss, seed {seed}")
    axes[0].axhline(t["f1_d_loss_max"], color="k", lw=0.8, ls=":")
    axes[0].axhline(t["f1_g_loss_min"], color="k", lw=0.8, ls="-.")
    axes[0].text(0.01, t["f1_d_loss_max"], f" D 'collapsed' below {fmt(t['f1_d_loss_max'])}", fontsize=6,
                 va="bottom", transform=axes[0].get_yaxis_transform())
    axes[0].text(0.01, t["f1_g_loss_min"], f" G 'climbed' above {fmt(t['f1_g_loss_min'])}", fontsize=6,
                 va="bottom", transform=axes[0].get_yaxis_transform())
    axes[0].set_xlabel("step"), axes[0].legend(fontsize=5, ncol=2), axes[0].set_title("strong discriminator: losses")
    for ax, seed in zip(axes[1:], seeds):
        steps, images = r.snaps.get(f"{EXPERIMENT}/seed_{seed}", r.snaps[EXPERIMENT])
        ax.imshow(tile(images[-1][:36], nrow=6), cmap="gray", vmin=0, vmax=255)
        black = f["seeds"][seed]["observed"]["black_fraction"]
        ax.axis("off"), ax.set_title(f"seed {seed}, step {steps[-1]}: {fmt(100 * black)}% black", fontsize=8)
    path = r.figs.add("f1_collapse.png", fig)
    return [f"![F1]({path})", "",
            f"Every seed: losses on the left (the dotted and dash-dotted lines are the checks' thresholds), the last "
            f"snapshot's samples on the right. Mean over seeds: D loss fell to {fmt(o['min_d_loss'])} and G loss "
            f"climbed to {fmt(o['max_g_loss'])}; {fmt(100 * o['black_fraction'])}% of the final snapshot's samples "
            f"are black (brightest 1% of pixels below {fmt(t['peak_brightness'])}; median peak "
            f"{fmt(o['peak_brightness'])}, mean brightness {fmt(o['brightness'])} against {fmt(o['real_brightness'])} "
            "for real digits).", ""] + over_training(f, r) + held_rule_table(r.evidence["F1_held_rule"])


def over_training(f: dict, r: ReportInputs) -> list[str]:
    """When each seed went black and came back, with what its output and gradient did meanwhile, and
    the digits it drew: a figure, a table and what the seeds that ended black had apart."""
    lines, t = r.evidence["F1_timeline"], f["thresholds"]
    real_pinned = f["observed"]["real_pinned_black"]
    fig, axes = r.plt.subplots(1, 5, figsize=(18, 3))
    colors = r.sns.color_palette(n_colors=len(lines))
    for color, (seed, s) in zip(colors, lines.items()):
        for ax, key in zip(axes, ("black_fraction", "pinned_black", "g_grad_at_output", "g_pinned_black",
                                  "top_class_share")):
            ax.plot(s["step"], s[key], "o-", color=color, ms=3, lw=1, label=f"seed {seed}")
        axes[2].plot(s["step"], s["g_grad_at_pixels"], ":", color=color, lw=1)
    axes[0].axhline(t["f1_black_min"], color="k", ls=":", lw=0.8)
    axes[1].axhline(real_pinned, color="k", ls=":", lw=0.8, label="real digits")
    axes[2].set_yscale("log")
    axes[4].axhline(0.1, color="k", ls=":", lw=0.8, label="ten digits alike")
    for ax, title in zip(axes, ("share of black samples", "share of pixels at black",
                                "gradient reaching G's output layer\n(dotted: D's gradient at the pixels)",
                                "share of G's outputs saturated at black", "most frequent digit's share")):
        ax.set_title(title, fontsize=9), ax.set_xlabel("step"), ax.legend(fontsize=6)
    path = r.figs.add("f1_over_training.png", fig)
    rows = [[seed, s["went_black_at"] if s["went_black_at"] is not None else "never",
             s["came_back_at"] if s["came_back_at"] is not None else ("-" if s["went_black_at"] is None else "stayed"),
             f"{s['black_snapshots']}/{s['snapshots']}", fmt(s["modes"][-1]), fmt(s["top_class_share"][-1])]
            for seed, s in lines.items()]
    ended = {seed: s["black_fraction"][-1] >= t["f1_black_min"] for seed, s in lines.items()}

    def mean(key: str, black: bool) -> str:
        values = [np.mean(s[key][2 * len(s[key]) // 3:]) for seed, s in lines.items() if ended[seed] == black]
        return fmt(float(np.mean(values))) if values else "-"

    groups = {"ended black": [k for k, v in ended.items() if v], "did not": [k for k, v in ended.items() if not v]}
    apart = ("Over the last third, " + "; ".join(
        f"the seeds that {name} ({', '.join(seeds)}) had {mean('pinned_black', name == 'ended black')} of their pixels "
        f"at black and {mean('g_grad_at_output', name == 'ended black')} of gradient reaching G's output layer"
        for name, seeds in groups.items() if seeds) + f" (real digits: {fmt(real_pinned)} of pixels at black).")
    return [f"![F1 over training]({path})", "",
            "*Over training, every seed.* A sample is black when its brightest 1% of pixels lie below the controls' "
            f"threshold; a snapshot is black when at least {fmt(t['f1_black_min'])} of its samples are. A pixel at black "
            "is exactly 0 in the saved image (real digits' background is 0 too, the dotted line). The middle panels are "
            "read on fixed codes every log step: D's gradient at G's pixels (dotted) enters G only through its sigmoid's "
            "slope at each pixel, and their product (solid) is all that reaches G's weights; a pixel whose slope is "
            "below 1% of its peak at the dark end is saturated at black and passes almost none. The last panel is the "
            "share of samples the classifier calls the most frequent digit: 1 is every sample one digit, the collapse "
            "most readers mean.", "",
            table(["seed", "went black at step", "came back at step", "black snapshots", "modes at the end",
                   "most frequent digit's share at the end"], rows), "", apart, ""] + going_and_coming(r)


def going_and_coming(r: ReportInputs) -> list[str]:
    """A table and one paragraph: D's loss and G's output layer at the black snapshots, at the others,
    just before each return and just after; each sentence said only where its numbers bear it out."""
    b = r.evidence["F1_black_and_back"]
    where = {"black": "black snapshots", "not_black": "snapshots not black",
             "before_return": "the last black snapshot before a return", "back": "the first snapshot back"}
    rows = [[name, *(b[k][at] if b[k][at] is not None else "-" for k in ("d_loss", *OUTPUT_LAYER))]
            for at, name in where.items() if b["d_loss"][at] is not None]
    said = []
    black, clear = b["g_grad_at_output"]["black"], b["g_grad_at_output"]["not_black"]
    if black is not None and clear is not None:
        said.append(f"while black, {fmt(clear / max(black, 1e-12))}x less gradient reached G's output layer than when "
                    f"not" if black < clear else "the gradient reaching G's output layer was not smaller while black")
        pushed = b["g_grad_at_pixels"]["black"] > b["g_grad_at_pixels"]["not_black"]
        said[-1] += (f", though D pushed {'harder' if pushed else 'no harder'} on the pixels, and "
                     f"{fmt(b['g_pinned_black']['black'])} of G's outputs sat saturated at black, where a sigmoid "
                     "passes almost no gradient")
    if black is None:
        said.append("no seed went black")
    elif b["returns"]:
        rose = b["d_loss"]["back"] > b["d_loss"]["black"]
        said.append(f"at the {b['returns']} returns D's loss {'rose' if rose else 'did not rise'} from "
                    f"{fmt(b['d_loss']['black'])} while black to {fmt(b['d_loss']['back'])} at the first snapshot back"
                    + (" (D losing its grip), and the gradient reaching the output layer with it"
                       if rose and b["g_grad_at_output"]["back"] > black else ""))
    else:
        said.append("no seed came back from black")
    return ["*Going black and coming back.* Medians over every seed's snapshots after step 0 (D's loss, D's gradient "
            "at G's pixels, what of it reached G's output layer, the share of G's outputs saturated at black):", "",
            table(["snapshots", "D's loss", "D's gradient at the pixels", "reaching G's output layer",
                   "saturated at black"], rows), "",
            clauses(said), ""]


def held_rule_table(proof: dict) -> list[str]:
    """The validity rule on runs of known state, as the report shows it."""
    rows = [[seed, at, r["steps"][at], r[at]["d_in_control"], r[at]["g_loss_levelled"], r[at]["ok"]]
            for seed, r in proof.items() if seed != "tenths_fail" for at in ("full", "tenth")]
    return ["*Validity, full and cut at a tenth.* The run is meant to fail, so validity asks that the failure holds "
            "(D's accuracy on fakes over the last third; G's loss levelled: the share of its range it still moves "
            "from the middle to the last third, against the limit its own runs of known state set, see the "
            "appendix), not that the FID of garbage stops moving. Each seed's judged run at its budget should pass; "
            "the same run cut at a tenth of it, its G loss still climbing, must fail: "
            f"{'every one does' if proof['tenths_fail'] else 'not every one does, so the rule misses a known failure'}.",
            "",
            table(["seed", "run", "steps", "D's accuracy on fakes", "G loss moving", "valid"], rows), ""]


def digits_drawn(f: dict) -> str:
    """The collapse most readers mean, over the seeds: how many digit classes the last third's samples
    were, and the most frequent one's share."""
    seen = [s["observed"] for s in f["seeds"].values()]
    modes = [o["modes"] for o in seen]
    top = [o["top_class_share"] for o in seen]
    return (f"over the last third the samples were {fmt(min(modes))}-{fmt(max(modes))} digit classes, the most "
            f"frequent {fmt(100 * min(top))}-{fmt(100 * max(top))}% of them, at every seed")


SAID = {"d_loss_collapsed": "D's loss collapsed", "g_loss_climbed": "G's loss climbed",
        "samples_black_at_some_point": "the samples went black at some snapshot",
        "samples_black": "the samples were black at the end"}

CLAIM = Claim("F1", "Collapse under a too-strong discriminator", judge, section,
              experiments=lambda sweep: [EXPERIMENT], measures=("peak_brightness",), evidence=evidence,
              validity=validity, map_samples=(EXPERIMENT,), drawn=drawn, parts=PARTS, said=SAID, also=digits_drawn)
