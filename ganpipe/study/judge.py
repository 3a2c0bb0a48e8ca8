"""One claim judged from its runs: at every seed of every condition, its checks and its validity
checks (the claim's own, plus those every training-based claim shares: its measures passed their
controls, the last third of training holds enough snapshots to judge, and each reading compared with
a control's line lies where the controls decide it).

The checks read the last third of training, not its last snapshot: each number the claim's
evidence gives is the median of its values at the snapshots of the last third (`late_evidence`). A
measure that hovers at its threshold is answered by where it sits over that stretch, not by one
snapshot's flip; the answer at each of those snapshots is kept beside the verdict for the reader.
`ganpipe.study.verdicts` turns the per-seed records into each condition's verdict and the claim's
headline."""

from __future__ import annotations

from ganpipe.params import Params
from ganpipe.study import conditions, verdicts
import numpy as np

from ganpipe.study.claims.claim import CURVES, REPRODUCED, Claim, SingleInputs
from ganpipe.study.evidence import Context, Runs, late_steps


def claim_conditions(params: Params, claim: Claim, sweep: list[str]) -> list[conditions.Condition]:
    """The claim's conditions: those of its first experiment that every experiment it reads ran
    (or its first experiment's alone, for a claim that compares against another's own setting)."""
    f, exps = params.findings, params.findings.experiments
    names = claim.experiments(sweep)
    own = conditions.conditions(exps[names[0]], f.seeds, f.map_seeds)
    if claim.own_conditions:
        return own
    ran = [{c.name for c in conditions.conditions(exps[n], f.seeds, f.map_seeds)} for n in names[1:]]
    return [c for c in own if all(c.name in r for r in ran)]


def proven(claim: Claim, controls: dict) -> dict:
    """Validity: the claim's measures separated their controls before judging anything."""
    ok = {n: controls[n]["separates"] for n in claim.measures}
    return verdicts.check(ok, "each measure the claim reads separates its controls", all(ok.values()))


def clear_of_controls(claim: Claim, judged: dict, controls: dict) -> dict:
    """Validity: each reading the checks compare with a control's line lies where the controls decide
    it, at or beyond the weakest dose or at or short of the strongest negative. Between the two the
    controls show no case: the line's place there is the declared rule's (threshold_at), and which
    side of it a run lands on is chance, floats and seed, not the artifact (docs/design.md, section 8)."""
    values, bands = {}, []
    ok = True
    for key, measure in (claim.lines or {}).items():
        c, v = controls[measure], judged[key]
        low, high = sorted((c["strongest_negative"], c["weakest_dose"]))
        values[key] = v
        bands.append(f"{measure} {low:.3g}-{high:.3g}")
        ok = ok and not (low < v < high)
    return verdicts.check(values, "each reading compared with a control's line lies outside the band between its "
                          f"strongest negative and weakest dose ({'; '.join(bands)}), where the controls decide it", ok)


def _number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def median_evidence(at_steps: list[dict], end: dict) -> dict:
    """The evidence the checks read: each number (and each number of a per-clip table) the median of
    its values at the late snapshots; anything else (curves, names) as at the end."""
    out = dict(end)
    for key, value in end.items():
        if key in CURVES or key == "step":
            continue
        if _number(value):
            out[key] = float(np.median([e[key] for e in at_steps]))
        elif isinstance(value, dict) and value and all(_number(v) for v in value.values()):
            out[key] = {k: float(np.median([e[key][k] for e in at_steps])) for k in value}
    return out


def late_evidence(claim: Claim, runs: Runs, cond: str, seed: int, ctx: Context, t: dict) -> tuple[dict, dict, list]:
    """The run's evidence at the end (what validity reads), the median over the last third (what the
    checks read), and whether the checks held at each snapshot of the last third ([step, holds], in
    step order)."""
    end = claim.evidence(runs, cond, seed, ctx)
    steps = sorted(late_steps({"step": end["fid_steps"]}))
    at_steps = [claim.evidence(runs, cond, seed, ctx, step) for step in steps]
    answers = [[step, all(claim.judge(e, t)["checks"].values())] for step, e in zip(steps, at_steps)]
    return end, median_evidence(at_steps, end), answers


def late_window(answers: list, minimum: int) -> dict:
    """Validity: the last third of training holds enough snapshots for its medians to mean anything."""
    return verdicts.check(len(answers), f"at least {minimum} snapshots in the last third of training, whose "
                          "medians the checks read", len(answers) >= minimum)


def judge_seeded(claim: Claim, params: Params, runs: Runs, ctx: Context, t: dict, controls: dict, rule) -> dict:
    """A training-based claim at every seed of each of its conditions. The record shows the first
    condition (the experiment's own setting) in full; its verdict is the headline over all conditions
    (ganpipe.study.verdicts.headline)."""
    f = params.findings
    results = []
    for cond in claim_conditions(params, claim, ctx.sweep):
        records, checks = {}, {}
        for seed in cond.seeds:
            end, judged, answers = late_evidence(claim, runs, cond.name, seed, ctx, t)
            records[seed] = {**claim.judge(judged, t), "late": answers}
            checks[seed] = {"measures_proven": proven(claim, controls), **claim.validity(end, f.validity, rule),
                            "late_window": late_window(answers, f.validity.late_snapshots_min)}
            if claim.lines:
                checks[seed]["clear_of_controls"] = clear_of_controls(claim, judged, controls)
        results.append({"name": cond.name, "label": conditions.label(cond.name, cond.overrides), "condition": cond.overrides,
                        "n_seeds": len(cond.seeds),
                        **verdicts.judge_seeds(records, checks, claim.parts, min_valid=len(f.seeds)),
                        "template": records[cond.seeds[0]]})
    template = results[0]["template"]
    for r in results:
        del r["template"]
    main = results[0]
    spread = {k: verdicts.spread(main["seeds"], k) for k in template["observed"]}
    spread = {k: v for k, v in spread.items() if v is not None}  # numbers only, not per-clip tables
    keep = ("name", "label", "condition", "n_seeds", "validity", "holds_in", "verdict", "seeds", "parts", "invalid_seeds")
    table = [{k: r[k] for k in keep if k in r} for r in results]
    record = {"claim": template["claim"], "measure": template["measure"], "thresholds": template["thresholds"],
              "observed": {k: v["mean"] for k, v in spread.items()}, "spread": spread,
              "checks": {k: verdicts.holds_in([main["seeds"][s]["checks"][k] for s in counted(main)])
                         for k in template["checks"]},
              "said": claim.said or {},
              **{k: main[k] for k in ("seeds", "validity", "invalid_seeds")},
              **verdicts.headline(table, len(f.seeds))}
    if claim.parts:
        # each part's headline over the conditions, as the claim's; its seeds from the condition deciding it
        record["parts"] = {}
        for part in claim.parts:
            rows = [{**c, **c["parts"][part]} for c in table]
            h = verdicts.headline(rows, len(f.seeds))
            by = next((c for c in rows if c["name"] in h["decided_by"]), rows[0])
            record["parts"][part] = {**h, "checks": list(claim.parts[part]), "held_at": by["held_at"]}
    if len(results) > 1:
        record["conditions"] = table
        record["conditions_summary"] = verdicts.map_summary(table, len(f.seeds))
    record["why"] = verdicts.why(record)  # the report's first table says it as it is
    return record


def counted(condition: dict) -> list[str]:
    """The seeds a condition's counts read: its valid seeds where it gave a verdict, else every seed."""
    if condition["verdict"] == verdicts.INCONCLUSIVE:
        return list(condition["seeds"])
    return [s for s in condition["seeds"] if s not in condition.get("invalid_seeds", [])]


def judge_single(claim: Claim, inputs: SingleInputs, t: dict) -> tuple[dict, dict]:
    """A single-run claim (a toy, the math, the main models): its record, and what the report draws."""
    ev, drawn = claim.single(inputs)
    record = claim.judge(ev, t)
    return {**record, "holds_in": "1/1" if record["verdict"] == REPRODUCED else "0/1", "scope": claim.scope,
            "validity": {}}, drawn
