"""One claim judged from its runs: at every seed of every condition, its checks and its validity
checks (the claim's own, plus two that every training-based claim shares: its measures passed their
controls, and its checks give the same answer at every snapshot of the last third of training).
`ganpipe.study.verdicts` turns those per-seed records into the claim's verdict."""

from __future__ import annotations

from ganpipe.params import Params
from ganpipe.study import conditions, verdicts
from ganpipe.study.claims.claim import REPRODUCED, Claim, SingleInputs
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


def stable(claim: Claim, runs: Runs, cond: str, seed: int, ctx: Context, t: dict, ev: dict, minimum: int) -> dict:
    """Validity: the checks give the same answer at every snapshot of the last third of training, so
    more training would not change the verdict."""
    at = [[step, all(claim.judge(claim.evidence(runs, cond, seed, ctx, step), t)["checks"].values())]
          for step in sorted(late_steps({"step": ev["fid_steps"]}))]  # [step, holds], in step order
    return verdicts.check(at, f"the same answer at each snapshot of the last third ({minimum} at least)",
                          len(at) >= minimum and len({holds for _, holds in at}) == 1)


def judge_seeded(claim: Claim, params: Params, runs: Runs, ctx: Context, t: dict, controls: dict, rule) -> dict:
    """A training-based claim at every seed of each of its conditions: the first condition (the
    experiment's own setting) gives the verdict, the others its condition map."""
    f = params.findings
    results = []
    for cond in claim_conditions(params, claim, ctx.sweep):
        records, checks = {}, {}
        for seed in cond.seeds:
            ev = claim.evidence(runs, cond.name, seed, ctx)
            records[seed] = claim.judge(ev, t)
            checks[seed] = {"measures_proven": proven(claim, controls), **claim.validity(ev, f.validity, rule),
                            "stable": stable(claim, runs, cond.name, seed, ctx, t, ev, f.validity.stable_snapshots_min)}
        results.append({"name": cond.name, "label": conditions.label(cond.name), "condition": cond.overrides,
                        "n_seeds": len(cond.seeds),
                        **verdicts.judge_seeds(records, checks), "template": records[cond.seeds[0]]})
    template = results[0]["template"]
    for r in results:
        del r["template"]
    main = results[0]
    spread = {k: verdicts.spread(main["seeds"], k) for k in template["observed"]}
    spread = {k: v for k, v in spread.items() if v is not None}  # numbers only, not per-clip tables
    record = {"claim": template["claim"], "measure": template["measure"], "thresholds": template["thresholds"],
              "observed": {k: v["mean"] for k, v in spread.items()}, "spread": spread,
              "checks": {k: verdicts.holds_in([s["checks"][k] for s in main["seeds"].values()])
                         for k in template["checks"]},
              **{k: main[k] for k in ("verdict", "holds_in", "seeds", "validity")}}
    if len(results) > 1:
        table = [{k: r[k] for k in ("name", "label", "condition", "n_seeds", "validity", "holds_in", "verdict", "seeds")}
                 for r in results]
        record["conditions"] = table
        record["conditions_summary"] = verdicts.map_summary(table, len(f.seeds))
    return record


def judge_single(claim: Claim, inputs: SingleInputs, t: dict) -> tuple[dict, dict]:
    """A single-run claim (a toy, the math, the main models): its record, and what the report draws."""
    ev, drawn = claim.single(inputs)
    record = claim.judge(ev, t)
    return {**record, "holds_in": "1/1" if record["verdict"] == REPRODUCED else "0/1", "scope": claim.scope,
            "validity": {}}, drawn
