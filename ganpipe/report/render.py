"""The markdown report: the models, the instruments and their controls, then every claim (its
verdict, per-seed tables, validity, condition map, and its own figure from ganpipe.study.claims), and
the provenance; `html_page` makes it one self-contained page for the MLflow UI.

`render` is pure: it takes the stage outputs as plain data (findings, evidence, metrics,
provenance, sample grids) and writes report.md and its PNG figures into one folder.
"""

from __future__ import annotations

import textwrap
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ganpipe.measures.controls import autoscaled
from ganpipe.report.figures import Figures, grids_figure
from ganpipe.report.tables import fmt, table, value, with_spread
from ganpipe.running.files import write_bytes, write_text

MODEL_COLUMNS = ["fid", "precision", "recall", "density", "coverage", "modes", "confidence", "brightness",
                 "peak_brightness", "background_noise", "edge_sharpness", "grey_page", "emboss_score"]


@dataclass(frozen=True)
class ReportInputs:
    """What a claim's report section may draw from: the findings stage's evidence, the evaluation,
    the main models' samples, each experiment's snapshots (NAME and NAME/CONDITION: steps, images
    at the first seed), the figure collector and the plotting modules."""

    evidence: dict
    metrics: dict
    model_samples: dict
    snaps: dict
    figs: object
    plt: object
    sns: object


def render(out: Path, *, claims: dict, shows: dict[str, str], findings: dict, evidence: dict, metrics: dict,
           provenance: dict, model_samples: dict[str, np.ndarray],
           experiment_snapshots: dict[str, tuple[np.ndarray, np.ndarray]], params_summary: dict,
           control_strip: dict | None = None) -> str:
    """Write out/report.md and out/figures/*.png; return the markdown. `claims`: {id: claim} in the
    report's order (each with `title`, `seeded` and `section`); `shows`: for each hands-on claim, what
    its runs show, as one sentence."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import seaborn as sns

    sns.set_theme(style="whitegrid", context="paper")
    figs = Figures()
    page = ReportInputs(evidence=evidence, metrics=metrics, model_samples=model_samples, snaps=experiment_snapshots,
                        figs=figs, plt=plt, sns=sns)
    # each claim's section first, so the opening can show the picture each one drew
    sections, pictures = {}, {}
    for cid, claim in claims.items():
        before = set(figs.files)
        sections[cid] = _claim_section(cid, claim, findings[cid], page, evidence, experiment_snapshots, figs)
        pictures[cid] = next((name for name in figs.files if name not in before), None)

    hands_on = [cid for cid, c in claims.items() if c.seeded]
    others = [cid for cid in claims if cid not in hands_on]
    md: list[str] = ["# The note's GAN findings, re-run", ""]
    more = {cid: list(findings[cid]["seeds"]) for cid in hands_on
            if len(findings[cid].get("seeds", {})) > len(evidence["seeds"])}
    md += [_scope(provenance, evidence, params_summary, more), ""]
    md += ["## The note's hands-on findings", "",
           f"What the note saw when it trained GANs, and what happened here. {_tally(hands_on, findings)} "
           "A verdict counts seeds: **reproduced** at every seed, **mixed** at some, **not reproduced** at none, "
           "under the conditions that could test the claim (each finding ran under a few settings; *what the runs "
           "show* names them); **inconclusive** when none could (a run not trained, a manipulation that did not "
           "take, a measure that did not separate its controls). Beside each count of seeds stands the 95% "
           "interval of the share of seeds it holds at: three seeds cannot tell *always* from *half the time* "
           "(3/3 says at least 44%), so a verdict is only as firm as that range.", "",
           table(["finding", "the note says", "what the runs show", "verdict", "why", "picture"],
                 [[f"**{cid}** {claims[cid].title}", findings[cid]["claim"], shows.get(cid, ""),
                   f"**{findings[cid]['verdict']}** at {with_spread(findings[cid]['holds_in'])} of seeds", _why(findings[cid]),
                   f'<img src="figures/{pictures[cid]}" width="160" alt="{cid}">' if pictures[cid] else ""]
                  for cid in hands_on]), ""]
    md += ["## The toys and the math", "",
           f"Single runs whose answers are known exactly, or the main models once. {_tally(others, findings)}", "",
           table(["finding", "the note says", "verdict", "scope"],
                 [[f"**{cid}** {claims[cid].title}", findings[cid]["claim"], f"**{findings[cid]['verdict']}**",
                   findings[cid].get("scope", "")] for cid in others]), ""]

    md += _knobs_section(evidence.get("main_models"))

    # ---- models
    md += ["## The models", "", f"Every model's samples against {metrics['n']} real test digits. FID and its kin "
           "are computed in the features of this project's own digit classifier (`train-classifier`), not "
           "Inception: compare them within this report, not with published MNIST FIDs. FID also depends on n, so "
           "`real` (real training digits against real test digits, same n) is the floor.", ""]
    rows = [[name] + [metrics[name].get(c, float("nan")) for c in MODEL_COLUMNS] for name in ("real", "ae", "vae", "gan", "wgan")]
    md += [table(["model"] + MODEL_COLUMNS, rows), ""]
    md += [f"- `{c}`: {COLUMN_MEANS[c]}" for c in MODEL_COLUMNS] + [""]
    path = figs.add("models.png", grids_figure({m: s[:64] for m, s in model_samples.items()}))
    md += [f"![samples of each model]({path})", "",
           "AE and VAE: decoded codes drawn from N(0, I). GAN and WGAN: fixed noise.", ""]

    # ---- every claim in detail, then the instruments
    md += ["## The findings in detail", "", VERDICT_LEGEND, ""]
    for cid in claims:
        md += sections[cid]
    md += ["## Appendix: the instruments, proven before they judge", ""]
    md += _controls_section(evidence, control_strip, figs, plt)

    # ---- provenance
    md += ["## Provenance", "", table(["item", "value"], [
        ["git commit", provenance["git_commit"]], ["working tree", working_tree(provenance)],
        ["params digest", provenance["params_digest"]],
        ["data source", provenance["data"]["source"]],
        ["train / test digits", f"{provenance['data']['counts']['train']['total']} / {provenance['data']['counts']['test']['total']}"],
        *[[f"sha256 {k}", v] for k, v in provenance["data"]["sha256"].items()],
        ["MLflow store", provenance["mlflow_uri"]],
        ["findings runs restored from the run cache", restored(provenance["run_cache"])],
    ]), "", "MLflow runs (latest per stage):", "",
        table(["stage", "run id"], [[s, r] for s, r in sorted(provenance["mlflow_runs"].items())]), "",
        "DVC outputs (`dvc.lock`):", "",
        table(["stage", "output", "md5"], provenance["dvc_outs"]), ""]

    text = "\n".join(md)
    for name, data in figs.files.items():
        write_bytes(out / "figures" / name, data)
    write_text(out / "report.md", text)
    return text


def working_tree(provenance: dict) -> str:
    """Whether the report comes from the commit it names, or from a tree that differs from it."""
    changed = provenance.get("changed_files", [])
    if not changed:
        return "clean: the files are the commit's (dvc.lock and the stage outputs aside)"
    return f"differs from the commit: {', '.join(changed[:6])}" + (f" and {len(changed) - 6} more" if len(changed) > 6 else "")


def restored(cache: dict) -> str:
    """'12 of 68, first trained at <commit> (12)': the runs the stages copied from the run cache."""
    if not cache["restored"]:
        return f"none of {cache['runs']}: every run trained in the stages that wrote it"
    where = ", ".join(f"{commit} ({n})" for commit, n in sorted(cache["first_trained_at"].items()))
    return f"{cache['restored']} of {cache['runs']}, first trained at {where}"


def html_page(markdown: str, folder: Path, title: str = "ganpipe report") -> str:
    """The report as one self-contained HTML page, its figures inlined as data URIs: what the
    MLflow UI renders among a run's artifacts (it shows markdown as plain text, HTML as a page)."""
    import base64
    import html
    import re

    from markdown_it import MarkdownIt

    body = MarkdownIt("commonmark", {"html": False}).enable("table").render(markdown)

    def inline(match: re.Match) -> str:
        path = folder / html.unescape(match.group(1))
        if not path.is_file():
            return match.group(0)
        return f'src="data:image/png;base64,{base64.b64encode(path.read_bytes()).decode()}"'

    body = re.sub(r'src="([^"]+\.png)"', inline, body)
    style = ("body{font-family:sans-serif;max-width:72em;margin:2em auto;padding:0 1em;line-height:1.45}"
             "table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:.25em .6em}"
             "img{max-width:100%}code{background:#f4f4f4}")
    return (f"<!doctype html><html><head><meta charset=\"utf-8\"><title>{html.escape(title)}</title>"
            f"<style>{style}</style></head><body>{body}</body></html>\n")


COLUMN_MEANS = {
    "fid": "Frechet distance between the samples' and the real digits' classifier features (lower is closer)",
    "precision": "share of samples that fall inside the real digits' feature neighbourhoods (realism)",
    "recall": "share of real digits that fall inside the samples' neighbourhoods (variety)",
    "density": "how many real neighbourhoods each sample falls in, on average (1 for real data)",
    "coverage": "share of real digits with a sample inside their neighbourhood",
    "modes": "digit classes the classifier finds among the samples (of 10)",
    "confidence": "the classifier's mean top-class probability on the samples",
    "brightness": "mean pixel value in [0, 1] (real digits about 0.13; collapsed GANs near 0)",
    "peak_brightness": "mean of each sample's brightest pixel (a black image has none)",
    "background_noise": "grey energy away from the digit's strokes (F4's noise around the digit; real digits 0)",
    "edge_sharpness": "how steep the strokes' edges are (F4b's blur lowers it)",
    "grey_page": "how grey the page is: its darker quarter's level (real digits 0; F3b's grey page is high)",
    "emboss_score": "paired light and dark edges of a relief (F3b's embossing)",
}


def _scope(provenance: dict, evidence: dict, params_summary: dict, more: dict[str, list[str]]) -> str:
    """more: the findings whose own setting ran at more seeds than findings.seeds, and those seeds."""
    counts = provenance["data"]["counts"]
    seeds = ", ".join(str(s) for s in evidence["seeds"])
    extra = "".join(f", {cid} at {len(s)} ({', '.join(s)}), since its outcome differs between seeds"
                    for cid, s in more.items())
    return (f"*Scope:* MNIST from `{provenance['data']['source']}` ({counts['train']['total']:,} training and "
            f"{counts['test']['total']:,} test digits); each hands-on finding trained at {len(evidence['seeds'])} seeds "
            f"({seeds}){extra}; the main WGAN at clip {params_summary['wgan_clip']}, the main GAN with the "
            f"{params_summary['gan_generator']} generator; commit `{provenance['git_commit'][:10]}`, working tree "
            f"{working_tree(provenance)}. Every number is computed by the pipeline, every threshold is in "
            "`params.yaml` or comes from the controls (appendix).")


def _tally(ids: list[str], findings: dict) -> str:
    counts = {state: sum(findings[c]["verdict"] == state for c in ids)
              for state in ("reproduced", "mixed", "not reproduced", "inconclusive")}
    return f"Of these {len(ids)}: " + ", ".join(f"{n} {state}" for state, n in counts.items() if n) + "."


def _label(f: dict, name: str) -> str:
    """A condition of a finding as its table says it (the findings stage labels every condition)."""
    return next((c["label"] for c in f.get("conditions", []) if c["name"] == name),
                "its own setting" if name == "base" else name)


def _under(f: dict, name: str) -> str:
    words = _label(f, name)
    return words if words.startswith("under ") else f"under {words}"


def _decisive_checks(f: dict) -> tuple[dict, str]:
    """The per-check counts ("2/3") behind the headline, and where they come from: the experiment's
    own setting, or, when only other conditions decided, the first of those (its valid seeds)."""
    by = [n for n in f.get("decided_by", []) if n != "base"]
    if not by or "base" in f.get("decided_by", []):
        return f.get("checks", {}), ""
    cond = next(c for c in f["conditions"] if c["name"] == by[0])
    valid = [s for s in cond["seeds"].values() if s.get("valid", True)]
    counts = {k: f"{sum(s['checks'][k] for s in valid)}/{len(valid)}" for k in valid[0]["checks"]} if valid else {}
    return counts, _under(f, by[0])


def _why(f: dict) -> str:
    """The verdict's reason in one plain clause, from the checks of the conditions that decided it."""
    failed = [name for name, v in f.get("validity", {}).items() if not v["ok"]]
    if f["verdict"] == "inconclusive":
        return f"not tested: {', '.join(failed)} failed"
    by = [n for n in f.get("decided_by", []) if n != "base"]
    if by and f["verdict"] != "not reproduced":  # decided under conditions other than the experiment's own
        where = "; ".join(_under(f, n) for n in f["decided_by"])
        return f"{'every check held at every seed' if f['verdict'] == 'reproduced' else 'held at some seeds'} {where}"
    checks, where = _decisive_checks(f)
    said = f.get("said", {})

    def at(k: str) -> str:  # "the samples went black at 1 of 3 seeds"
        k_of_n = checks[k].split("/")
        return f"{said.get(k, k)} at {k_of_n[0]} of {k_of_n[-1]} seeds"

    counted = [k for k, v in checks.items() if isinstance(v, str)]
    missed = [k for k in counted if checks[k].split("/")[0] != checks[k].split("/")[-1]]
    held = [k for k in counted if k not in missed]
    if f["verdict"] == "reproduced":
        return "every check held at every seed"
    reason = "; ".join(at(k) for k in missed) or "its checks failed"
    if f["verdict"] == "not reproduced" and held:
        reason += f" (while {'; '.join(at(k) for k in held)})"
    return f"{where}: {reason}" if where else reason


MEASURE_WORDS = {"boundary_share": "share of the critic's weights within 1% of +-clip",
                 "emboss_score": "emboss score", "background_noise": "background noise",
                 "edge_sharpness": "edge sharpness"}


def _knobs_section(main: dict | None) -> list[str]:
    """What the user's knobs did: the main models read with the findings' measures and thresholds."""
    if not main:
        return []
    w, g = main["wgan"], main["gan"]
    k = w["knobs"]
    constraint = f"clip {k['clip']}" if k["clip"] is not None else f"constraint {k['constraint']}"

    def said(readings: dict) -> str:
        return "; ".join(f"{r['words']} ({r['claim']}: {MEASURE_WORDS[m]} {fmt(r['value'])}, its line "
                         f"{fmt(r['threshold'])})" for m in MEASURE_WORDS if (r := readings.get(m)))

    md = ["## Your knobs: the main models in the note's terms", "",
          "The main WGAN and GAN (`params.yaml`'s `wgan` and `gan` groups) read with the findings' measures "
          "and thresholds. One run each at one seed: a reading of what the knobs did, not a verdict. Turn a "
          "knob (`dvc exp run -S wgan.clip=1.0`) and this section changes; the verdicts above come from the "
          "findings' own experiments, and the trained rule from runs of its own, which these knobs do not touch.", "",
          f"- **The main WGAN** ({constraint}, RMSprop {fmt(k['lr'])}, {k['n_critic']} critic steps, "
          f"{k['steps']:,} steps): {said(w)}.",
          f"- **The main GAN** ({g['knobs']['generator']} generator, {g['knobs']['steps']:,} steps): {said(g)}.", ""]
    return md


def _claim_section(cid: str, claim, f: dict, page: ReportInputs, evidence: dict, snaps: dict, figs: Figures) -> list[str]:
    """One claim in detail: the note, the measure, the numbers at every seed, the checks and the
    validity, the thresholds, the claim's own figure and paragraph, its condition map."""
    counted = f"{with_spread(f['holds_in'])} of seeds" if "seeds" in f else f["holds_in"]
    md = [f"### {cid}. {claim.title}: {f['verdict']} ({counted})", "", f"*The note:* {f['claim']}", "",
          f"*Measured:* {f['measure']}.", ""]
    if "seeds" in f:
        md += _parts_table(f) + _seed_tables(f)
    else:
        md += [f"*Scope:* {f['scope']}.", ""]
        obs = [[k, v] for k, v in f["observed"].items() if not isinstance(v, (dict, list))]
        md += [table(["observed", "value"], obs), "",
               table(["check", "holds"], [[k, v] for k, v in f["checks"].items()]), ""]
    thr = [[k, v] for k, v in f["thresholds"].items()]
    if thr:
        md += [table(["threshold", "value"], thr), ""]
    md += claim.section(f, page)
    if f.get("conditions"):
        md += _condition_table(claim, f, evidence, snaps, figs)
    return md


VERDICT_LEGEND = ("Each training-based claim (F1, F3-F5) runs at every seed of `findings.seeds`, under its "
                  "experiment's own setting and the conditions of its map; its checks read each measure's median over "
                  "the last third of training. Under one condition, *holds in* counts the seeds whose checks all pass "
                  "(in brackets, the 95% Wilson interval of the share of seeds it holds at): "
                  "**reproduced**: every seed; **mixed**: some; **not reproduced**: none; **inconclusive**: a validity "
                  "check failed (a measure that did not separate its controls, a run not trained by the calibrated rule, "
                  "a failure that did not hold, a manipulation that did not take effect, unequal conditions, too few "
                  "snapshots), so that condition could not test the claim. The headline comes from the conditions that "
                  "could test it, run at every seed: reproduced if it reproduced under at least one of them, not "
                  "reproduced if it held at no seed under any of them, mixed in between; inconclusive only when "
                  "no condition could test it (docs/design.md, section 1b). "
                  "F2, F2b, F6 and F7 are single runs (toys with exact answers, the math, the main models).")


def _controls_section(evidence: dict, strip: dict, figs: Figures, plt) -> list[str]:
    """The measures on their controls, the control strip, and the trained rule's calibration."""
    controls, cal = evidence["controls"], evidence["calibration"]
    md = ["### Measures and their controls", "",
          "Before any measure judges a run it is checked on controls made from real test digits (weights, for the "
          "pile-up): the artifact at known doses (must count) and inputs without it (must not). Its threshold comes "
          "from the controls by the rule in `findings.controls.threshold_at`: strongest negative + "
          "threshold_at x (weakest dose - strongest negative). The controls decide a reading only outside the band "
          "between the strongest negative and the weakest dose (column *undecided between*): a run whose reading "
          "falls inside it lands on either side of the threshold by chance, so its seed does not count (validity "
          "check `clear_of_controls`). A measure that did "
          "not separate its controls would make its claims inconclusive; the measures the verdicts used before, and "
          "why each was replaced, are in the last columns.", ""]
    rows = []
    for name, c in controls.items():
        doses = ", ".join(f"{d['name']}: {fmt(d['value'])}" for d in c["doses"])
        negs = ", ".join(f"{n['name']}: {fmt(n['value'])}" for n in c["negatives"])
        old = c.get("replaced", {})
        rows.append([f"`{name}`", "/".join(c["claims"]), "higher" if c["direction"] > 0 else "lower", doses, negs,
                     fmt(c["threshold"]), "-".join(fmt(v) for v in sorted((c["strongest_negative"], c["weakest_dose"]))),
                     c["separates"], f"`{old.get('measure', '')}`",
                     f"{'separates' if old.get('separates') else 'fails'}: {old.get('why', '')}"])
    md += [table(["measure", "claims", "artifact is", "positive controls (doses)", "negative controls", "threshold",
                   "undecided between", "separates", "replaced", "why replaced"], rows), ""]
    if strip:
        fig, axes = plt.subplots(len(strip), max(len(v) for v in strip.values()),
                                 figsize=(1.1 * max(len(v) for v in strip.values()), 1.7 * len(strip)), squeeze=False)
        for ax in axes.flat:
            ax.axis("off")
        for row, (measure, items) in zip(axes, strip.items()):
            for ax, (name, image, positive) in zip(row, items):
                ax.imshow(image, cmap="gray", vmin=0, vmax=255)
                ax.set_title(textwrap.fill(("+ " if positive else "- ") + name.replace("_", " "), 14), fontsize=6,
                             color="#b2182b" if positive else "#4d4d4d", fontweight="bold" if positive else "normal")
            row[0].text(-0.5, 0.5, measure, transform=row[0].transAxes, ha="right", va="center", fontsize=7)
        md += [f"![controls]({figs.add('controls.png', fig)})", "", "One real digit under every control, fixed range "
               "[0, 1], a row per measure: the positive controls (red, +: the artifact at a known dose, must count) "
               "first, then the negative ones (grey, -: no artifact, must not).", ""]
    md += ["### The trained rule, calibrated", "",
           "Each run's FID is taken at step 0 and ten snapshots on fixed noise (n = "
           f"{evidence['snapshot_n']}); the rule reads the first snapshot (step 0, the untrained generator) and the medians of the middle and the last "
           "third of training (GANs oscillate, so windows are judged, not points): *remaining* = last / first (how "
           "much of the untrained FID is left), *recent* = (middle - last) / (first - last) (how much of the gain came "
           "late). A run is trained when max(remaining, recent) is at most the limit. The rule is proven on runs of "
           "known state: the default GAN and WGAN at their budgets (`trained_gan_full`, `trained_wgan_full`, every "
           "seed) must pass, the same configurations at a tenth of their budgets must fail; the limit sits between "
           "them by the controls' rule. These are findings experiments of their own, so the main models' knobs "
           "never move the limit. An arm meant to fail "
           "(F3b's largest clip) only has to have settled: plateaued (its FID changed from the middle "
           "to the last third by no more than the long runs' own FIDs did), or trained by the rule if it learned after "
           "all. F1's strong D is asked that its failure holds, on its own runs of known state (below).", ""]
    limit = cal.get("threshold")
    rows = []
    for budget, group in (("full (must pass)", cal["long"]), ("a tenth (must fail)", cal["short"])):
        for name, w in group.items():
            rows.append([name, budget, w and w["first"], w and w["last"], w and w["remaining"], w and w["recent"],
                         w is not None and limit is not None and w["untrained"] <= limit])
    md += [table(["run", "budget", "first FID", "last third (median)", "remaining", "recent", "trained"], rows), "",
           f"Limit: {fmt(limit)}; the rule separates its runs of known state: **{fmt(cal['separates'])}**. "
           f"Plateau limit (the long runs' largest change between the thirds): {fmt(cal.get('plateau'))}.", ""]
    if "noise" in cal:
        nz = cal["noise"]
        md += [f"Resampling noise of one snapshot FID: the frozen generator of the first long GAN run, {nz['draws']} fresh noise draws of "
               f"n = {evidence['snapshot_n']}: FID {fmt(nz['mean'])} +- {fmt(nz['std'])} ({fmt(100 * nz['relative'])}%), "
               "far below the swings between snapshots of one run (training, not sampling, moves the curves); the "
               "windows' medians over three or more snapshots smooth both.", ""]
    fig, ax = plt.subplots(figsize=(7, 3))
    for name, curve in cal["curves"].items():
        ax.plot(curve["step"], curve["fid"], "o-" if "tenth" not in name else "s--", ms=3, lw=1, label=name)
    ax.set_xscale("log"), ax.set_xlabel("step"), ax.set_ylabel("FID"), ax.legend(fontsize=6)
    md += [f"![trained rule]({figs.add('trained_rule.png', fig)})", ""]
    return md + held_section(cal.get("held"))


def held_section(held: dict | None) -> list[str]:
    """F1's levelled check on its runs of known state."""
    if not held:
        return []
    rows = [[name, budget, value, value is not None and held["threshold"] is not None and value <= held["threshold"]]
            for budget, group in (("full (must pass)", held["long"]), (f"cut at step {held['cut']} (must fail)",
                                                                         held["short"]))
            for name, value in group.items()]
    return ["### F1's levelled check, calibrated", "",
            f"A collapse is a state only if it holds: G's loss ({held['series']}) must have stopped moving by the end "
            "of the run. *Moving* = |middle - last| / (max - min): the medians of the middle and the last third of "
            "training, against the whole range the loss has covered (the FIDs' plateau was the first limit here; G's "
            "loss under a winning D swings between about 7 and 14 for thousands of steps, and no budget kept every "
            f"seed within it). Runs of known state: `{held['experiment']}`, F1's arm (`{held['arm']}`) at twice its "
            "budget at seeds of its own, must pass; the same runs cut at a tenth of the arm's budget, G's loss still "
            "climbing, must fail; the limit sits between them by the controls' rule.", "",
            table(["run", "budget", "moving", "levelled"], rows), "",
            f"Limit: {fmt(held['threshold'])}; the check separates its runs of known state: "
            f"**{fmt(held['separates'])}**.", ""]


def _validity_word(f: dict) -> str:
    failed = [name for name, v in f.get("validity", {}).items() if not v["ok"]]
    if not f.get("validity"):
        return "n/a" if "scope" in f else "ok"
    if not failed:
        return "ok"
    bad = f.get("invalid_seeds") or []
    if f.get("verdict") != "inconclusive" and bad:  # enough valid seeds: the others listed, not counted
        return (f"ok at {len(f['seeds']) - len(bad)} of {len(f['seeds'])} seeds; seed{'s' * (len(bad) > 1)} "
                f"{', '.join(bad)} not counted ({', '.join(failed)} failed)")
    return "failed: " + ", ".join(failed)


def _seed_tables(f: dict) -> list[str]:
    """Per-seed values with mean and range, per-seed checks, and the validity checks (the experiment's
    own setting; the condition map below gives every other condition's verdict)."""
    seeds = list(f["seeds"])
    by = "; ".join(_label(f, n) for n in f.get("decided_by", []))
    head = [f"*Decided under:* {by or 'no condition: none could test it'}. The tables show the experiment's own "
            "setting" + ("; the condition map below, every condition." if f.get("conditions") else "."), ""]
    rows = []
    for key, sp in f["spread"].items():
        rows.append([key] + [f["seeds"][s]["observed"][key] for s in seeds] + [sp["mean"], f"{fmt(sp['min'])} to {fmt(sp['max'])}"])
    out = head + [table(["observed"] + [f"seed {s}" for s in seeds] + ["mean", "range"], rows), ""]
    checks = list(next(iter(f["seeds"].values()))["checks"])
    out += [table(["check"] + [f"seed {s}" for s in seeds] + ["holds in"],
                   [[c] + [f["seeds"][s]["checks"][c] for s in seeds] + [with_spread(f["checks"][c])] for c in checks]
                   + [["**all checks**"] + [f["seeds"][s]["holds"] for s in seeds]
                      + [with_spread((f.get("conditions") or [f])[0]["holds_in"])]]
                   + ([["counted (valid)"] + [f["seeds"][s].get("valid", True) for s in seeds] + [""]]
                      if f.get("invalid_seeds") else [])
                   + [["each late snapshot"] + [_late_cell(f["seeds"][s].get("late", [])) for s in seeds] + [""]]),
            "", "The checks read each measure's median over the snapshots of the last third of training; the last row "
            "shows whether all checks held at each of those snapshots alone.", ""]
    out += ["*Validity* (what must hold for the verdict to mean anything):", "",
            table(["validity check", "required"] + [f"seed {s}" for s in seeds] + ["ok"],
                   [[name, v["required"]] + [_validity_cell(v["value"].get(s)) for s in seeds] + [v["ok"]]
                    for name, v in f["validity"].items()]), ""]
    return out


def _validity_cell(v) -> str:
    return value(v)


def _late_cell(answers: list) -> str:
    """Each late snapshot's answer ([step, holds] pairs): whether they agree, and where they part."""
    if not answers:
        return "none"
    held = [step for step, holds in answers if holds]
    if len(held) in (0, len(answers)):
        return f"{'holds' if held else 'fails'} at all {len(answers)} (steps {answers[0][0]}-{answers[-1][0]})"
    return f"holds at {len(held)} of {len(answers)} (steps {', '.join(map(str, held))})"


def _parts_table(f: dict) -> list[str]:
    """A claim whose sentence joins statements the runs may part: each part's own verdict."""
    if not f.get("parts"):
        return []
    rows = [[part, ", ".join(p["checks"]), f"**{p['verdict']}**", with_spread(p["holds_in"]),
             ", ".join(p["held_at"]) or "none", "; ".join(_label(f, n) for n in p["decided_by"]) or "-"]
            for part, p in f["parts"].items()]
    return ["*The note's sentence in parts*, each judged on its own checks:", "",
            table(["part", "checks", "verdict", "holds in", "seeds where it held", "decided under"], rows), ""]


def _condition_table(claim, f: dict, evidence: dict, snaps: dict, figs: Figures) -> list[str]:
    rows = [[c.get("label", c["name"]), c["n_seeds"], _validity_word(c), with_spread(c["holds_in"]), f"**{c['verdict']}**"]
            for c in f["conditions"]]
    out = ["*Condition map* (the experiment's own setting first; each other condition changes the knobs it names, "
           "declared in params.yaml under the experiment's `map`):", "",
           table(["condition", "seeds run", "validity", "holds in", "verdict"], rows), "",
           f"Summary: {f['conditions_summary']}.", ""]
    names = [n for m in claim.map_samples for n in (evidence["sweep"] if m == "SWEEP" else [m])]
    panels = {}
    for c in f["conditions"]:
        for name in names:
            key = f"{name}/{c['name']}"
            if key in snaps:
                steps, images = snaps[key]
                # one knob per line: a cell's label is too long for one panel's width
                cell = c.get("label", c["name"]).replace(", ", "\n")
                title = (f"{name}\n{cell}\n{c['verdict']} ({c['holds_in']} seeds)\n"
                         f"step {steps[-1]}, seed {next(iter(c['seeds']))}")
                panels[title] = images[-1][:25]
                if claim.map_autoscaled:
                    panels[f"{title}\nautoscaled"] = autoscaled(images[-1][:25])
    if panels:
        ncols = len(names) * (2 if claim.map_autoscaled else 1)
        path = figs.add(f"{claim.id.lower()}_conditions.png", grids_figure(panels, ncols=ncols if ncols > 1 else
                                                                      min(len(panels), 4), size=2.2))
        out += [f"![{claim.id} conditions]({path})", ""]
    return out
