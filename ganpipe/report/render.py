"""The markdown report: the findings at a glance, the models, every claim in detail (its verdict,
per-seed tables, validity, condition map, and its own figure from ganpipe.study.claims), the
instruments (report.appendix) and the provenance.

`render` is pure: it takes the stage outputs as plain data (findings, evidence, metrics,
provenance, sample grids) and writes report.md and its PNG figures into one folder. Its paragraphs
live in prose.md (an instructor edits the words there); this module lays out the page and its tables.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ganpipe.measures.controls import autoscaled
from ganpipe.report.appendix import instruments
from ganpipe.report.figures import Figures, grids_figure
from ganpipe.report.prose import COLUMN_MEANS, MEASURE_WORDS, say
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
           see_it: dict[str, list[str]],
           provenance: dict, model_samples: dict[str, np.ndarray],
           experiment_snapshots: dict[str, tuple[np.ndarray, np.ndarray]], params_summary: dict,
           control_strip: dict | None = None) -> str:
    """Write out/report.md and out/figures/*.png; return the markdown. `claims`: {id: claim} in the
    report's order (each with `title`, `seeded` and `section`); `shows`: for each hands-on claim, what
    its runs show, as one sentence; `see_it`: for each hands-on claim, the lines that close its
    section (ganpipe.study.see_it: the command that shows it)."""
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
        if cid in see_it:
            sections[cid] += see_it[cid]
        pictures[cid] = next((name for name in figs.files if name not in before), None)

    hands_on = [cid for cid, c in claims.items() if c.seeded]
    others = [cid for cid in claims if cid not in hands_on]
    md: list[str] = ["# The note's GAN findings, re-run", ""]
    more = {cid: list(findings[cid]["seeds"]) for cid in hands_on
            if len(findings[cid].get("seeds", {})) > len(evidence["seeds"])}
    md += [_scope(provenance, evidence, params_summary, more), ""]
    md += ["## The note's hands-on findings", "", say("hands_on", tally=_tally(hands_on, findings)), "",
           table(["finding", "the note says", "what the runs show", "verdict", "why", "picture"],
                 [[f"**{cid}** {claims[cid].title}", findings[cid]["claim"], shows.get(cid, ""),
                   f"**{findings[cid]['verdict']}** at {with_spread(findings[cid]['holds_in'])} of seeds", findings[cid]["why"],
                   f'<img src="figures/{pictures[cid]}" width="160" alt="{cid}">' if pictures[cid] else ""]
                  for cid in hands_on]), ""]
    md += ["## The toys and the math", "", say("toys", tally=_tally(others, findings)), "",
           table(["finding", "the note says", "verdict", "scope"],
                 [[f"**{cid}** {claims[cid].title}", findings[cid]["claim"], f"**{findings[cid]['verdict']}**",
                   findings[cid].get("scope", "")] for cid in others]), ""]

    md += _knobs_section(evidence.get("main_models"))

    # ---- models
    md += ["## The models", "", say("models", n=metrics["n"]), ""]
    rows = [[name] + [metrics[name].get(c, float("nan")) for c in MODEL_COLUMNS] for name in ("real", "ae", "vae", "gan", "wgan")]
    md += [table(["model"] + MODEL_COLUMNS, rows), ""]
    md += [f"- `{c}`: {COLUMN_MEANS[c]}" for c in MODEL_COLUMNS] + [""]
    path = figs.add("models.png", grids_figure({m: s[:64] for m, s in model_samples.items()}))
    md += [f"![samples of each model]({path})", "", say("models_caption"), ""]

    # ---- every claim in detail, then the instruments
    md += ["## The findings in detail", "", say("legend"), ""]
    for cid in claims:
        md += sections[cid]
    md += ["## Appendix: the instruments, proven before they judge", ""]
    md += instruments(evidence, control_strip, figs)

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


def _scope(provenance: dict, evidence: dict, params_summary: dict, more: dict[str, list[str]]) -> str:
    """more: the findings whose own setting ran at more seeds than findings.seeds, and those seeds."""
    counts = provenance["data"]["counts"]
    seeds = ", ".join(str(s) for s in evidence["seeds"])
    extra = "".join(f", {cid} at {len(s)} ({', '.join(s)}), since its outcome differs between seeds"
                    for cid, s in more.items())
    return say("scope", source=provenance["data"]["source"], train=counts["train"]["total"],
               test=counts["test"]["total"], n_seeds=len(evidence["seeds"]), seeds=seeds, extra=extra,
               wgan_clip=params_summary["wgan_clip"], gan_generator=params_summary["gan_generator"],
               commit=provenance["git_commit"][:10], tree=working_tree(provenance))


def _tally(ids: list[str], findings: dict) -> str:
    counts = {state: sum(findings[c]["verdict"] == state for c in ids)
              for state in ("reproduced", "mixed", "not reproduced", "inconclusive")}
    return f"Of these {len(ids)}: " + ", ".join(f"{n} {state}" for state, n in counts.items() if n) + "."


def _label(f: dict, name: str) -> str:
    """A condition of a finding as its table says it (the findings stage labels every condition)."""
    return next((c["label"] for c in f.get("conditions", []) if c["name"] == name),
                "its own setting" if name == "base" else name)


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

    return ["## Your knobs: the main models in the note's terms", "", say("knobs"), "",
            say("knobs_wgan", constraint=constraint, lr=fmt(k["lr"]), n_critic=k["n_critic"], steps=k["steps"],
                said=said(w)),
            say("knobs_gan", generator=g["knobs"]["generator"], steps=g["knobs"]["steps"], said=said(g)), ""]


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
    rest = "; the condition map below, every condition." if f.get("conditions") else "."
    head = [say("decided_under", by=by or "no condition: none could test it", rest=rest), ""]
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
            "", say("late_note"), ""]
    out += [say("validity"), "",
            table(["validity check", "required"] + [f"seed {s}" for s in seeds] + ["ok"],
                   [[name, v["required"]] + [value(v["value"].get(s)) for s in seeds] + [v["ok"]]
                    for name, v in f["validity"].items()]), ""]
    return out


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
    return [say("parts"), "",
            table(["part", "checks", "verdict", "holds in", "seeds where it held", "decided under"], rows), ""]


def _condition_table(claim, f: dict, evidence: dict, snaps: dict, figs: Figures) -> list[str]:
    rows = [[c.get("label", c["name"]), c["n_seeds"], _validity_word(c), with_spread(c["holds_in"]), f"**{c['verdict']}**"]
            for c in f["conditions"]]
    out = [say("condition_map"), "",
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
