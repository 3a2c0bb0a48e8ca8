"""F3b: a large clip value turns WGAN samples into strange embossed (relief-like) images."""

from __future__ import annotations

from ganpipe.params import ValidityParams
from ganpipe.report.figures import grids_figure
from ganpipe.report.render import ReportInputs
from ganpipe.report.tables import fmt, table
from ganpipe.study.claims.claim import Claim, first_seed, record
from ganpipe.study.evidence import Context, Runs, sweep, upto
from ganpipe.study.verdicts import check


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
            "fid_curves": {c: s["fid"] for c, s in series.items()}, "fid_steps": series[str(ctx.clips[paper])]["step"]}


def look(emboss: float, grey: float, t: dict) -> str:
    """What a clip's samples show, by the two measures proven on their controls: relief in the
    strict sense, a grey page without it, or neither, as real digits. Not "black page" for neither:
    a reader hears F1's collapse in it."""
    if emboss >= t["emboss_score"]:
        return "embossed"
    return "grey page, no relief" if grey >= t["grey_page"] else "no relief, no grey page"


def judge(ev: dict, t: dict) -> dict:
    large, paper = ev["largest_clip"], ev["paper_clip"]
    limit = t["emboss_score"]
    return record(
        "A large clip value turns WGAN samples into strange embossed (relief-like) images.",
        "emboss score (shadow and highlight in pairs) of the samples at the largest clip against the paper's "
        "clip, at a fixed range [0, 1]; the same, autoscaled per image as the note's display, is shown beside it",
        ev,
        {"emboss_score": limit, "grey_page": t["grey_page"]},  # the grey page: what is drawn, not a check
        {"embossed_at_large_clip": ev["emboss_at_largest_clip"] >= limit,
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
    return {"clips_differ": clips_differ(ev, v),
            "trained_at_paper_clip": rule.trained(ev["fid_steps"], ev["fid_curves"][ev["paper_clip"]]),
            "settled_at_largest_clip": rule.settled(ev["fid_steps"], ev["fid_curves"][ev["largest_clip"]])}


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
    return [f"![F3b]({path})", "", f"Samples at seed {seed}: top row at a fixed range [0, 1], bottom row autoscaled per "
            "image, as matplotlib's imshow shows an array without vmin/vmax (the display of the tutorial the note's "
            "network resembles). Each panel names the run's FID, its emboss score and what it draws. The check reads "
            "the fixed range; the autoscaled score is shown beside it.", "",
            f"What the largest clip ({large}) draws, by two measures proven on their controls (appendix): relief in the "
            f"strict sense (emboss score, line {fmt(line)}), a grey page without relief (the page's darker quarter, "
            f"line {fmt(t['grey_page'])}), or neither: {'; '.join(drawn)}.", "",
            table(["clip", "seed", "page grey", "emboss score", "emboss score, autoscaled", "FID", "draws"], rows), ""]


SAID = {"embossed_at_large_clip": "the largest clip's samples were embossed", "more_than_at_paper_clip": "they had more relief than at the paper's clip"}

CLAIM = Claim("F3b", "Large clip values emboss the samples", judge, section,
              experiments=lambda names: names, measures=("emboss_score",),
              lines={"emboss_at_largest_clip": "emboss_score"}, evidence=evidence, validity=validity,
              map_samples=("SWEEP",), map_autoscaled=True, said=SAID)
