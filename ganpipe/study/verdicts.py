"""From per-seed checks to a verdict (docs/design.md section 1b), on plain records.

A training-based claim is judged at each seed: the checks of that seed's numbers, and whether all
hold. Before that counts, the experiment's validity checks (trained, the manipulation took effect,
equal conditions) must pass at every seed: otherwise it could not test the claim.

    validity failed anywhere  -> inconclusive
    holds at every seed       -> reproduced
    holds at some seeds       -> mixed
    holds at none             -> not reproduced

A condition map judges each condition the same way. Its summary names only conditions that ran at
every seed of findings.seeds: a condition scanned at fewer seeds is a lead, not a verdict.
"""

from __future__ import annotations

import numpy as np

from ganpipe.study.conditions import label

REPRODUCED, MIXED, NOT_REPRODUCED, INCONCLUSIVE = "reproduced", "mixed", "not reproduced", "inconclusive"
STATES = (REPRODUCED, MIXED, NOT_REPRODUCED, INCONCLUSIVE)


def state(holds: list[bool], valid: bool) -> str:
    if not valid:
        return INCONCLUSIVE
    if holds and all(holds):
        return REPRODUCED
    return MIXED if any(holds) else NOT_REPRODUCED


def holds_in(holds: list[bool]) -> str:
    return f"{sum(map(bool, holds))}/{len(holds)}"


def check(value, required: str, ok: bool) -> dict:
    """One validity check: the measured value, the requirement in words, and whether it is met."""
    return {"value": value, "required": required, "ok": bool(ok)}


def merge_validity(per_seed: dict[int, dict[str, dict]]) -> dict[str, dict]:
    """Validity per check over seeds: the values by seed, ok only if ok at every seed."""
    names = list(dict.fromkeys(name for checks in per_seed.values() for name in checks))
    merged = {}
    for name in names:
        items = {seed: checks[name] for seed, checks in per_seed.items() if name in checks}
        first = next(iter(items.values()))
        merged[name] = {"value": {str(s): c["value"] for s, c in items.items()}, "required": first["required"],
                        "ok": all(c["ok"] for c in items.values())}
    return merged


def judge_seeds(records: dict[int, dict], validity: dict[int, dict[str, dict]]) -> dict:
    """records: seed -> a judged record (with `observed` and `checks`); validity: seed -> checks.
    Returns the claim's seed-level part: seeds, holds_in, validity, verdict."""
    seeds = {str(seed): {"observed": r["observed"], "checks": r["checks"], "holds": all(r["checks"].values())}
             for seed, r in sorted(records.items())}
    holds = [s["holds"] for s in seeds.values()]
    merged = merge_validity(validity)
    return {"seeds": seeds, "holds_in": holds_in(holds), "validity": merged,
            "verdict": state(holds, all(v["ok"] for v in merged.values()))}


def spread(seeds: dict[str, dict], key: str) -> dict | None:
    """Mean, min and max of one observed number over seeds (None if it is not a number)."""
    values = [s["observed"].get(key) for s in seeds.values()]
    if not values or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
        return None
    return {"mean": float(np.mean(values)), "min": float(min(values)), "max": float(max(values))}


def judged_and_leads(conditions: list[dict], n_seeds: int) -> tuple[list[dict], list[dict]]:
    """The conditions that give a verdict (run at every seed, valid) and the leads (held at the
    scan seeds only): what both summaries below name."""
    judged = [c for c in conditions if c["n_seeds"] >= n_seeds and c["verdict"] != INCONCLUSIVE]
    leads = [c for c in conditions if c["n_seeds"] < n_seeds and c["verdict"] == REPRODUCED]
    return judged, leads


def map_summary(conditions: list[dict], n_seeds: int) -> str:
    """One sentence: where the effect appears among the conditions tried."""
    full, lead_conds = judged_and_leads(conditions, n_seeds)
    named = [label(c["name"]) for c in full if c["verdict"] == REPRODUCED]
    leads = [label(c["name"]) for c in lead_conds]
    if named:
        text = f"reproduced under {'; '.join(named)} (at every seed)"
    elif full:
        text = f"not reproduced under any of the {len(full)} valid condition(s) run at every seed"
    else:
        text = "no condition run at every seed passed its validity checks"
    if leads:
        text += f"; held under {'; '.join(leads)} at the scan seed(s) only (a lead, not a verdict)"
    scanned_not = [label(c["name"]) for c in conditions
                   if c["n_seeds"] < n_seeds and c["verdict"] in (MIXED, NOT_REPRODUCED)]
    if scanned_not:
        text += f"; did not hold at the scan seed(s) under {'; '.join(scanned_not)}"
    inconclusive = [label(c["name"]) for c in conditions if c["verdict"] == INCONCLUSIVE]
    if inconclusive:
        text += f"; inconclusive: {'; '.join(inconclusive)}"
    text += f" ({len(conditions)} conditions tried)"
    return text


def in_words(f: dict, n_seeds: int) -> str:
    """A claim's record as a clause a student can read: under which conditions tried it reproduced
    (every seed), or that it did not under any, or that no condition could test it, and why."""
    conds = f.get("conditions") or [{"name": "base", "n_seeds": n_seeds, "verdict": f["verdict"],
                                     "holds_in": f["holds_in"], "validity": f["validity"]}]
    tried = f"{len(conds)} condition{'s' if len(conds) > 1 else ''} tried"
    judged, lead_conds = judged_and_leads(conds, n_seeds)
    held = [label(c["name"]) for c in judged if c["verdict"] == REPRODUCED]
    partly = [f"{label(c['name'])} ({c['holds_in']} seeds)" for c in judged if c["verdict"] == MIXED]
    if held:
        text = f"reproduced at every seed under {'; '.join(held)}, of the {tried}"
    elif partly:
        text = f"held at some seeds only, under {'; '.join(partly)}, of the {tried}"
    elif judged:
        text = f"not reproduced under any of the {tried} ({len(judged)} with valid runs at every seed)"
    else:
        failed = sorted({name for c in conds for name, v in c["validity"].items() if not v["ok"]})
        text = (f"could not be tested: none of the {tried} gave valid runs at every seed "
                f"(failed: {', '.join(failed)})")
    leads = [label(c["name"]) for c in lead_conds]
    if leads:
        text += f"; it held under {'; '.join(leads)} at the one seed scanned, still to confirm at every seed"
    # run at every seed, held at some, but not valid: no verdict, and still worth a student's look
    for c in conds:
        if c["n_seeds"] >= n_seeds and c["verdict"] == INCONCLUSIVE and not c["holds_in"].startswith("0/"):
            failed = ", ".join(sorted(name for name, v in c["validity"].items() if not v["ok"]))
            text += (f"; under {label(c['name'])} it showed at {c['holds_in']} seeds, but in runs that failed "
                     f"a validity check ({failed}), which do not count")
    return text
