"""F3b: a large clip value turns WGAN samples into strange embossed (relief-like) images.

The note watched its samples while they trained, so the run is judged over its whole course, in
parts (`PARTS`): a large clip ruins the samples (relief or a grey page at some snapshot, at more
snapshots than the paper's clip); the ruin looks embossed (relief in the strict sense, at more
snapshots than the paper's clip); and, beside them, the samples are embossed at the end of the run.
Each snapshot of every clip reads as relief, a grey page or neither, by the two measures proven on
their controls. A ruin may be a phase, so no arm is asked to settle; the paper's clip, meant to
learn, is asked to have trained by its end. Why: the critic's response to a page-wide offset and,
for the upsample generator, the shape of its summed output kernel (ganpipe.study.mechanisms)."""

from __future__ import annotations

import numpy as np

from ganpipe.params import ValidityParams
from ganpipe.report.figures import grids_figure
from ganpipe.report.render import ReportInputs
from ganpipe.report.tables import clauses, fmt, table
from ganpipe.study import conditions
from ganpipe.study.claims.claim import Claim, first_seed, record
from ganpipe.study.evidence import Context, Runs, history_upto, sweep, upto
from ganpipe.study.mechanisms import kernel_lobes
from ganpipe.study.verdicts import check

PARTS = {"a large clip ruins the samples": ("ruined_at_large_clip", "ruined_longer_than_at_paper_clip"),
         "the ruin looks embossed": ("relief_at_large_clip", "relief_longer_than_at_paper_clip"),
         "embossed at the end of the run": ("embossed_at_large_clip", "more_than_at_paper_clip")}
# the note's own settings (batch-norm critic, sigmoid output, the paper's lr), one per generator the
# note's WGAN had: the map cells F3b's section draws over training
NOTE_CELLS = {"note_setting": "fc", "note_conv5": "conv5", "note_upsample": "upsample"}


def evidence(runs: Runs, cond: str, seed: int, ctx: Context, step: int | None = None) -> dict:
    """Each clip's emboss score, at a fixed range and autoscaled per image as the note's display."""
    shares, paper, largest = sweep(runs, cond, seed, ctx)
    series = {str(ctx.clips[n]): runs.series(n, cond, seed) for n in ctx.sweep}
    step = step or series[str(ctx.clips[paper])]["step"][-1]
    now = {c: upto(s, step) for c, s in series.items()}
    return {"step": int(step), "paper_clip": str(ctx.clips[paper]), "largest_clip": str(ctx.clips[largest]),
            "emboss_score": {c: s["emboss_score"][-1] for c, s in now.items()},
            "emboss_at_largest_clip": now[str(ctx.clips[largest])]["emboss_score"][-1],
            "emboss_score_autoscaled": {c: s["emboss_score_autoscaled"][-1] for c, s in now.items()},
            "grey_page": {c: s["grey_page"][-1] for c, s in now.items()},
            "fid": {c: s["fid"][-1] for c, s in now.items()}, "real_emboss_score": ctx.real["emboss_score"],
            "real_grey_page": ctx.real["grey_page"],
            "boundary_share_by_clip": shares,
            "wasserstein_by_clip": {str(ctx.clips[n]): runs.run(n, cond, seed).final("wasserstein") for n in ctx.sweep},
            "fid_curves": {c: s["fid"] for c, s in series.items()}, "fid_steps": series[str(ctx.clips[paper])]["step"],
            # the whole run up to `step`, snapshot by snapshot: what the parts read
            "snapshot_steps": now[str(ctx.clips[paper])]["step"],
            "emboss_curves": {c: s["emboss_score"] for c, s in now.items()},
            "grey_curves": {c: s["grey_page"] for c, s in now.items()},
            # why: how much the critic scores its samples lower on a page lifted by one grey level, at
            # the end (the final critic on the samples) and over training (logged on the probe codes)
            "offset_response": {str(ctx.clips[n]): offset_share(runs, n, cond, seed, ctx) for n in ctx.sweep},
            "offset_curves": {str(ctx.clips[n]): offset_curve(history_upto(runs.run(n, cond, seed), step))
                              for n in ctx.sweep}}


def offset_share(runs: Runs, name: str, cond: str, seed: int, ctx: Context) -> float:
    """The critic's score drop for a page lifted by PAGE_OFFSET, as a share of its Wasserstein
    estimate at the end of training (the size of what it tells real from fake)."""
    from ganpipe.training.objectives import PAGE_OFFSET

    drop = runs.offset_response(name, cond, seed, ctx.config(name, cond), PAGE_OFFSET)
    return drop / max(abs(runs.run(name, cond, seed).final("wasserstein")), 1e-12)


def offset_curve(history: dict, window: int = 9) -> dict:
    """The critic's score drop for its fakes lifted by the training's PAGE_OFFSET, at every log row,
    as a share of the size of its Wasserstein estimate around that row (the median of |W| over
    `window` rows: one row's estimate can cross zero); and its median over the run."""
    size = np.abs(history["wasserstein"])
    half = window // 2
    around = np.array([np.median(size[max(0, i - half):i + half + 1]) for i in range(len(size))])
    share = history["critic_offset_drop"] / np.maximum(around, 1e-12)
    return {"step": history["step"].astype(int).tolist(), "share": share.tolist(), "median": float(np.median(share))}


def look(emboss: float, grey: float, t: dict) -> str:
    """What a clip's samples show, by the two measures proven on their controls: relief in the
    strict sense, a grey page without it, or neither, as real digits. Not "black page" for neither:
    a reader hears F1's collapse in it."""
    if emboss >= t["emboss_score"]:
        return "embossed"
    return "grey page, no relief" if grey >= t["grey_page"] else "no relief, no grey page"


def states(ev: dict, t: dict) -> dict:
    """Each clip's snapshots by what they show: the steps with relief, those with a grey page and no
    relief, and how many are ruined (either). Step 0 is left out: the untrained generator's page is
    what its output layer starts at (a sigmoid's grey), not what the clip did."""
    steps = ev["snapshot_steps"]
    relief = {c: [s for s, e in zip(steps, v) if s > 0 and e >= t["emboss_score"]] for c, v in ev["emboss_curves"].items()}
    grey = {c: [s for s, e, g in zip(steps, ev["emboss_curves"][c], v)
                if s > 0 and e < t["emboss_score"] and g >= t["grey_page"]] for c, v in ev["grey_curves"].items()}
    return {"relief_steps": relief, "grey_page_steps": grey,
            "ruined_snapshots": {c: len(relief[c]) + len(grey[c]) for c in relief},
            "snapshots": sum(s > 0 for s in steps)}


def judge(ev: dict, t: dict) -> dict:
    large, paper = ev["largest_clip"], ev["paper_clip"]
    limit = t["emboss_score"]
    seen = states(ev, t)
    ruined, relief = seen["ruined_snapshots"], {c: len(v) for c, v in seen["relief_steps"].items()}
    return record(
        "A large clip value turns WGAN samples into strange embossed (relief-like) images.",
        "at every snapshot, relief (emboss score: shadow and highlight in pairs) or a grey page without it, at the "
        "largest clip against the paper's, at a fixed range [0, 1]; and the emboss score over the last third of "
        "training (autoscaled per image as the note's display, shown beside it)",
        {**ev, **seen},
        {"emboss_score": limit, "grey_page": t["grey_page"]},
        {"ruined_at_large_clip": ruined[large] > 0,
         "ruined_longer_than_at_paper_clip": ruined[large] > ruined[paper],
         "relief_at_large_clip": relief[large] > 0,
         "relief_longer_than_at_paper_clip": relief[large] > relief[paper],
         "embossed_at_large_clip": ev["emboss_at_largest_clip"] >= limit,
         "more_than_at_paper_clip": ev["emboss_score"][large] > ev["emboss_score"][paper]},
    )


def clips_differ(ev: dict, v: ValidityParams) -> dict:
    """The clips compared constrain the critic differently. Either the paper's clip binds and the
    largest binds less (a large clip that leaves the critic unconstrained is the condition under
    test, as the WGAN paper describes it), or both bind and the critic's scale follows the clip:
    its Wasserstein estimate (the mean over the last steps) at the largest clip is at least the
    ratio of the clips times that at the paper's clip (a critic whose every weight is c times
    larger has at least a c times larger output; more through its depth)."""
    shares, w = ev["boundary_share_by_clip"], ev["wasserstein_by_clip"]
    paper, large = ev["paper_clip"], ev["largest_clip"]
    binds_less = shares[paper] > v.clip_binds_share_min and shares[large] < shares[paper]
    scale = abs(w[large]) / max(abs(w[paper]), 1e-12)
    follows = scale >= float(large) / float(paper)
    return check({"share_at_c": shares, "wasserstein": w, "scale_ratio": round(scale, 4)},
                 f"the paper's clip binds and the largest binds less, or the critic's Wasserstein estimate at the "
                 f"largest clip is at least {float(large) / float(paper):g}x (the clips' ratio) that at the paper's",
                 binds_less or follows)


def validity(ev: dict, v: ValidityParams, rule) -> dict:
    """The clips constrain the critic differently; the paper's clip, the arm meant to learn, has
    trained by the end (the trained rule, proven on runs of known state); every clip was watched at
    enough snapshots to see a phase. The large clip's arm may be ruined, or ruined for a while: it is
    not asked to settle (the FID of a ruin need not stop moving, as F1's garbage need not)."""
    snapshots = len(ev["snapshot_steps"])
    return {"clips_differ": clips_differ(ev, v),
            "trained_at_paper_clip": rule.trained(ev["fid_steps"], ev["fid_curves"][ev["paper_clip"]]),
            "watched_throughout": check(snapshots, f"at least {v.phase_snapshots_min} snapshots over the run",
                                        snapshots >= v.phase_snapshots_min)}


def section(f: dict, r: ReportInputs) -> list[str]:
    from ganpipe.measures.controls import autoscaled

    seed, o0 = first_seed(f)
    names, clips = r.evidence["sweep"], r.evidence["clips"]
    t = f["thresholds"]
    line = t["emboss_score"]

    def title(n: str, scale: str, key: str) -> str:
        c = str(clips[n])
        score = o0[key][c]
        return (f"c = {c}, {scale}\nFID {fmt(o0['fid'][c])}, emboss {fmt(score)}\n"
                f"{look(score, o0['grey_page'][c], t)}")

    panels = {title(n, "fixed range", "emboss_score"): r.snaps[n][1][-1][:36] for n in names}
    panels |= {title(n, "autoscaled", "emboss_score_autoscaled"): autoscaled(r.snaps[n][1][-1][:36]) for n in names}
    path = r.figs.add("f3b_clip_sweep_samples.png", grids_figure(panels, ncols=len(names)))
    rows, drawn = [], []
    large = o0["largest_clip"]
    for s, seed_record in f["seeds"].items():
        o = seed_record["observed"]
        rows += [[c, s, o["grey_page"][c], o["emboss_score"][c], o["emboss_score_autoscaled"][c], o["fid"][c],
                  look(o["emboss_score"][c], o["grey_page"][c], t)] for c in o["grey_page"]]
        drawn.append(f"seed {s}: {look(o['emboss_score'][large], o['grey_page'][large], t)} "
                     f"(page grey {fmt(o['grey_page'][large])}, emboss {fmt(o['emboss_score'][large])})")
    rows.append(["real", "", o0["real_grey_page"], o0["real_emboss_score"], "", "",
                 look(o0["real_emboss_score"], o0["real_grey_page"], t)])
    return in_brief(f) + [f"![F3b]({path})", "", f"Samples at seed {seed}: top row at a fixed range [0, 1], bottom row autoscaled per "
            "image, as matplotlib's imshow shows an array without vmin/vmax (the display of the tutorial the note's "
            "network resembles). Each panel names the run's FID, its emboss score and what it draws. The check reads "
            "the fixed range; the autoscaled score is shown beside it.", "",
            f"What the largest clip ({large}) draws, by two measures proven on their controls (appendix): relief in the "
            f"strict sense (emboss score, line {fmt(line)}), a grey page without relief (the page's darker quarter, "
            f"line {fmt(t['grey_page'])}), or neither: {'; '.join(drawn)}.", "",
            table(["clip", "seed", "page grey", "emboss score", "emboss score, autoscaled", "FID", "draws"], rows), ""
            ] + over_training(f, r) + why(f, r)


def in_brief(f: dict) -> list[str]:
    """One paragraph for a student: what the largest clip did in the sweep's setting and in each of
    the note's, when, and whether the critic's answer to a page-wide offset tells them apart."""
    said, answers = [], {True: [], False: []}
    for c in _settings(f):
        seen = [rec["observed"] for rec in c["seeds"].values()]
        large, paper = seen[0]["largest_clip"], seen[0]["paper_clip"]
        relief = sorted(s for o in seen for s in o["relief_steps"][large])
        grey = sorted(s for o in seen for s in o["grey_page_steps"][large])
        ruined = sorted(relief + grey)
        what = ("nothing ruined" if not ruined else
                f"{'mostly grey pages' if len(grey) >= len(relief) else 'mostly relief'} between steps {ruined[0]:,} and "
                f"{ruined[-1]:,} ({len(relief)} relief and {len(grey)} grey-page snapshots over the seeds)")
        offset = [o["offset_curves"][large]["median"] for o in seen]
        answers[_batch_norm(c)] += offset
        setting = ("the sweep's own setting (fully connected generator, critic without norm)" if c["name"] == conditions.BASE
                   else f"the note's setting with its {NOTE_CELLS[c['name']]} generator (batch-norm critic)")
        said.append(f"in {setting}, clip {large} ruined {'/'.join(str(o['ruined_snapshots'][large]) for o in seen)} of "
                    f"{seen[0]['snapshots']} snapshots at seeds {', '.join(c['seeds'])} against "
                    f"{'/'.join(str(o['ruined_snapshots'][paper]) for o in seen)} at the paper's {paper}, {what}; its "
                    f"critic scored a page lifted by one grey level {_span(offset)} of its Wasserstein estimate lower "
                    "(median over training)")
    if not said:
        return []
    text = ("*In brief.* Clipping holds every critic weight within +-c, so c sets how large and how sharp the critic's "
            "verdict can grow. " + clauses(said))
    if answers[True] and answers[False]:
        apart = max(answers[True]) < min(answers[False])
        text += (" Every batch-norm critic answered a page-wide offset less than every critic without norm did: it "
                 "normalises the offset away, so nothing in its verdict pushes a grey page back to black, and grey "
                 "pages can last under it." if apart else
                 " The critic's answer to a page-wide offset does not set the batch-norm critics apart from those "
                 "without norm, so it does not explain where the grey pages lasted.")
    return [text, ""]


def _note_conditions(f: dict) -> list[dict]:
    return [c for c in f.get("conditions", []) if c["name"] in NOTE_CELLS]


def _settings(f: dict) -> list[dict]:
    """The sweep's own setting and the note's, the conditions F3b's paragraph and figures walk through."""
    return [c for c in f.get("conditions", []) if c["name"] == conditions.BASE or c["name"] in NOTE_CELLS]


def _state(step: int, o: dict, clip: str) -> str:
    if step in o["relief_steps"][clip]:
        return "relief"
    return "grey page" if step in o["grey_page_steps"][clip] else "-"


def over_training(f: dict, r: ReportInputs) -> list[str]:
    """The note's own settings, one per generator: each clip's samples over training at the first
    seed, and at every seed the snapshots with relief and with a grey page."""
    out, rows = [], []
    names, clips = r.evidence["sweep"], r.evidence["clips"]
    for c in _note_conditions(f):
        seed = next(iter(c["seeds"]))
        o = c["seeds"][seed]["observed"]
        steps = r.snaps[f"{names[0]}/{c['name']}"][0]
        every = max(1, -(-len(steps) // 10))  # ten columns at most
        panels = {}
        for n in names:
            clip = str(clips[n])
            snap_steps, images = r.snaps[f"{n}/{c['name']}"]
            for i in range(0, len(snap_steps), every):
                step = int(snap_steps[i])
                panels[f"c = {clip}, step {step}\n{_state(step, o, clip)}"] = images[i][:16]
        cols = len(range(0, len(steps), every))
        path = r.figs.add(f"f3b_{c['name']}_over_training.png", grids_figure(panels, ncols=cols, size=1.5))
        out += [f"![F3b, {NOTE_CELLS[c['name']]} generator in the note's setting, over training]({path})", "",
                f"*{c.get('label', c['name'])}, seed {seed}, over training* (a row per clip; each panel names what the "
                "snapshot shows: relief, a grey page, or neither).", ""]
        for s, rec in c["seeds"].items():
            o = rec["observed"]
            for n in names:
                clip = str(clips[n])
                rows.append([NOTE_CELLS[c["name"]], s, clip, _steps(o["relief_steps"][clip]),
                             _steps(o["grey_page_steps"][clip]), f"{o['ruined_snapshots'][clip]}/{o['snapshots']}",
                             look(o["emboss_score"][clip], o["grey_page"][clip], f["thresholds"]),
                             fmt(o["offset_response"][clip])])
    if rows:
        out += ["*Every seed of the note's settings, snapshot by snapshot.* A snapshot shows relief when its emboss "
                "score reaches the controls' line, a grey page when its darker quarter does without relief; ruined is "
                "either. The last column is the critic's response to a page lifted by one grey level (below).", "",
                table(["generator", "seed", "clip", "relief at steps", "grey page at steps", "ruined snapshots",
                       "last third draws", "critic's offset response"], rows), ""]
    return out


def _steps(steps: list) -> str:
    return ", ".join(f"{s:,}" for s in steps) if steps else "none"


def _label(c: dict) -> str:
    norm = "batch-norm critic" if _batch_norm(c) else "critic without norm"
    return f"{'the sweep' if c['name'] == conditions.BASE else c['name'].replace('_', ' ')}: {norm}"


def _batch_norm(c: dict) -> bool:
    return (c.get("condition") or {}).get("critic_norm") == "batch"


def why(f: dict, r: ReportInputs) -> list[str]:
    """The mechanism, measured: each setting's critic response to a page-wide offset per clip, at
    the end and over training, and the upsample generator's summed output kernel."""
    conds = f.get("conditions", [])
    if not conds:
        return []
    clips = [str(r.evidence["clips"][n]) for n in r.evidence["sweep"]]
    over = _settings(f)
    fig = r.plt.figure(figsize=(3.6 * max(len(over), 3), 6.8))
    grid = fig.add_gridspec(2, max(len(over), 3))
    top = [fig.add_subplot(grid[0, :2]), fig.add_subplot(grid[0, 2:])]
    colors = r.sns.color_palette(n_colors=len(conds))
    for color, c in zip(colors, conds):
        values = np.array([[rec["observed"]["offset_response"][clip] for clip in clips] for rec in c["seeds"].values()])
        top[0].plot([float(x) for x in clips], values.mean(0), "o-", color=color, lw=1, label=_label(c))
    top[0].set_xscale("log"), top[0].set_yscale("symlog", linthresh=1.0), top[0].axhline(0, color="k", lw=0.6)
    top[0].set_xlabel("clip"), top[0].set_ylabel("score drop / Wasserstein estimate")
    top[0].set_title("the final critic's response to a page lifted by one grey level", fontsize=9)
    top[0].legend(fontsize=5)
    clip_colors = dict(zip(clips, r.sns.color_palette("rocket_r", n_colors=len(clips))))
    for i, c in enumerate(over):
        ax = fig.add_subplot(grid[1, i])
        for clip in clips:
            curves = [rec["observed"]["offset_curves"][clip] for rec in c["seeds"].values()]
            ax.plot(curves[0]["step"], np.mean([k["share"] for k in curves], axis=0), color=clip_colors[clip], lw=1,
                    label=f"c = {clip}")
        ax.set_yscale("symlog", linthresh=1.0), ax.axhline(0, color="k", lw=0.6)
        ax.set_xlabel("step"), ax.set_title(f"over training, {_label(c)}", fontsize=8), ax.legend(fontsize=6)
    kernels = r.evidence.get("F3b_kernels", {})
    lines = []
    if kernels:
        shown = {"init": next(iter(kernels.values()))["init"]} | {f"c = {k['clip']:g}": k["trained"] for k in kernels.values()}
        pictures = [np.array(k["widest_kernel"]) for k in shown.values()]
        scale = max(np.abs(p).max() for p in pictures) or 1.0
        top[1].imshow(np.concatenate([np.pad(p, 1) for p in pictures], axis=1), cmap="RdBu_r", vmin=-scale, vmax=scale)
        top[1].set_title("upsample generator: summed output kernel\n(" + ", ".join(shown) + ")", fontsize=8)
        lines = [f"{name}: odd share {fmt(k['odd_share'])}, lobes {fmt(k['lobe_offset_px'])} px apart"
                 for name, k in shown.items()]
    top[1].axis("off")
    path = r.figs.add("f3b_why.png", fig)
    out = [f"![F3b: why]({path})", "",
           "*Why.* Top left: how much lower each run's final critic scores its own samples when every pixel is lifted "
           f"by one grey level ({fmt(r.evidence.get('page_offset', 0.2))} of white), as a share of its Wasserstein "
           "estimate, with the critic as training runs it (batch statistics, fakes in a batch of their own); mean "
           f"over seeds (every run: {_offset_ranges(conds, 'offset_response')}). Bottom: the same reading on fixed "
           "codes at every log step, mean over seeds, for the sweep and each of the note's settings (medians over "
           f"each run: {_offset_ranges(conds, 'median')}). A batch-norm critic subtracts each unit's batch mean, so a "
           "lift of the whole fake batch reaches it only through its first layer's bends: where it barely scores a "
           "grey page lower (or scores it higher), nothing pushes the generator's page back to black, and grey pages "
           "can last; a critic without norm scores the lift, more the larger its clip."]
    if lines:
        out[-1] += (" Top right: the upsample generator's two output convolutions summed into one kernel (the channel "
                    "whose positive and negative lobes lie furthest apart), at initialisation and at each clip; an "
                    "emboss filter is odd (share 1) with its lobes apart, a blur even (0), a random kernel about half: "
                    + "; ".join(lines) + " (medians over its 32 input channels). Trained, the kernel is not an "
                    "emboss filter unless its odd share rises above the initial one.")
    return out + [""]


def _offset_ranges(conds: list[dict], key: str) -> str:
    """The range of the critic's offset response by critic norm, over every run and clip: at the end
    (`offset_response`) or the median over training (`median`)."""
    by_norm = {True: [], False: []}
    for c in conds:
        for rec in c["seeds"].values():
            o = rec["observed"]
            by_norm[_batch_norm(c)] += (list(o["offset_response"].values()) if key == "offset_response"
                                        else [curve["median"] for curve in o["offset_curves"].values()])
    return "; ".join(f"{'every batch-norm critic' if batch else 'the critic without norm'}: {_span(v)}"
                     for batch, v in sorted(by_norm.items()) if v)


def _span(values: list) -> str:
    low, high = fmt(min(values)), fmt(max(values))
    return low if low == high else f"{low} to {high}"


def drawn(runs: Runs, params, ctx: Context, rule) -> dict:
    """The upsample generator's summed output kernel in every sweep run that has one (first seed of
    its condition), and at initialisation; and the page offset the critic's response reads."""
    from ganpipe.running.files import load_torch
    from ganpipe.training.objectives import PAGE_OFFSET, build

    f = params.findings
    kernels = {}
    for name in ctx.sweep:
        for cond in conditions.conditions(f.experiments[name], f.seeds, f.map_seeds):
            cfg = ctx.config(name, cond.name)
            if cfg.generator != "upsample":
                continue
            seed = cond.seeds[0]
            trained = load_torch(runs.folder(name, cond.name, seed) / "generator.pt")
            init = {k: v.detach() for k, v in build("wgan", cfg, seed=seed).G.state_dict().items()}
            kernels[f"{name}/{cond.name}/seed_{seed}"] = {"clip": ctx.clips[name], "trained": kernel_lobes(trained),
                                                          "init": kernel_lobes(init)}
    return {"F3b_kernels": kernels, "page_offset": PAGE_OFFSET}


SAID = {"ruined_at_large_clip": "the largest clip's samples were ruined (relief or a grey page) at some snapshot",
        "ruined_longer_than_at_paper_clip": "they were ruined at more snapshots than at the paper's clip",
        "relief_at_large_clip": "the largest clip's samples showed relief at some snapshot",
        "relief_longer_than_at_paper_clip": "they showed relief at more snapshots than at the paper's clip",
        "embossed_at_large_clip": "the largest clip's samples were embossed over the last third",
        "more_than_at_paper_clip": "they had more relief than at the paper's clip"}

CLAIM = Claim("F3b", "Large clip values emboss the samples", judge, section,
              experiments=lambda names: names, measures=("emboss_score",),
              lines={"emboss_at_largest_clip": "emboss_score"}, evidence=evidence, validity=validity,
              map_samples=("SWEEP",), map_autoscaled=True, drawn=drawn, parts=PARTS, said=SAID)
