"""From per-seed checks to a verdict (docs/design.md section 1b), on plain records.

A training-based claim is judged at each seed of each of its conditions: the checks of that seed's
numbers, and whether all hold. Before a seed counts, the condition's validity checks (trained, the
manipulation took effect, equal conditions) must pass there. A condition needs as many valid seeds
as findings.seeds holds (`min_valid`): one run at those seeds, every seed; one run at more seeds (a
claim whose outcome differs between seeds), enough of them, the invalid ones listed and not
counted. Otherwise it could not test the claim. One condition:

    too few valid seeds             -> inconclusive
    holds at every valid seed       -> reproduced
    holds at some                   -> mixed
    holds at none                   -> not reproduced

Counting only enough valid seeds, not every seed, keeps more seeds from turning a verdict into
"inconclusive" by one run whose validity check hovers: the more seeds, the likelier one of them
fails a chaotic check, so "every seed valid" would punish the very runs that make k/n firmer.

The claim's headline comes from the conditions that could test it: those run at every seed of
findings.seeds with valid runs there (`headline`). A condition scanned at fewer seeds is a lead, not a
verdict; a condition whose runs failed validity is listed, and overrules nothing.

    reproduced under at least one testable condition   -> reproduced (under those)
    not reproduced under every testable condition      -> not reproduced (under any testable condition)
    otherwise (held at some seeds somewhere)           -> mixed
    no testable condition                              -> inconclusive

Seeds are draws of one experiment, so k/n estimates the share of seeds at which the claim holds;
the report gives that share's 95% interval beside it (ganpipe.report.tables.share_interval), the
spread few seeds leave: 3/3 says at least 44%, 1/3 anything from 6% to 79%.
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


def judge_seeds(records: dict[int, dict], validity: dict[int, dict[str, dict]],
                parts: dict[str, tuple[str, ...]] | None = None, min_valid: int | None = None) -> dict:
    """records: seed -> a judged record (with `observed`, `checks` and optionally `late`, the answer
    at each late snapshot); validity: seed -> checks; parts: a claim's statements judged apart (part ->
    the checks it reads); min_valid: the valid seeds a verdict needs (default: every seed). Returns
    one condition's seed-level part: seeds (each with `valid`), holds_in (over the valid seeds, when
    enough are), validity, verdict, invalid_seeds (and parts, each with its own holds_in and verdict)."""
    seeds = {str(seed): {"observed": r["observed"], "checks": r["checks"], "holds": all(r["checks"].values()),
                         "valid": all(c["ok"] for c in validity[seed].values()),
                         **({"late": r["late"]} if "late" in r else {})}
             for seed, r in sorted(records.items())}
    counted = [s for s, r in seeds.items() if r["valid"]]
    enough = len(counted) >= (len(seeds) if min_valid is None else min(min_valid, len(seeds)))
    if not enough:  # no verdict; the seeds' outcomes still shown, over every seed, as runs that do not count
        counted = list(seeds)
    holds = [seeds[s]["holds"] for s in counted]
    out = {"seeds": seeds, "holds_in": holds_in(holds), "validity": merge_validity(validity),
           "verdict": state(holds, enough), "invalid_seeds": [s for s, r in seeds.items() if not r["valid"]]}
    if parts:
        out["parts"] = {}
        for part, names in parts.items():
            held = {s: all(seeds[s]["checks"][n] for n in names) for s in counted}
            out["parts"][part] = {"checks": list(names), "holds_in": holds_in(list(held.values())),
                                  "verdict": state(list(held.values()), enough),
                                  "held_at": [s for s, h in held.items() if h]}
    return out


def testable(conditions: list[dict], n_seeds: int) -> list[dict]:
    """The conditions that could test the claim: run at every seed, valid at every seed."""
    return [c for c in conditions if c["n_seeds"] >= n_seeds and c["verdict"] != INCONCLUSIVE]


def headline(conditions: list[dict], n_seeds: int) -> dict:
    """The claim's verdict from its conditions (each with name, n_seeds, verdict, holds_in), by the
    rule in this module's docstring: verdict, holds_in (of the conditions that decide it) and
    decided_by (their names, in the order tried)."""
    able = testable(conditions, n_seeds)
    by = {state_: [c for c in able if c["verdict"] == state_] for state_ in (REPRODUCED, MIXED, NOT_REPRODUCED)}
    if by[REPRODUCED]:
        deciding, verdict = by[REPRODUCED], REPRODUCED
    elif able and len(by[NOT_REPRODUCED]) == len(able):
        deciding, verdict = able, NOT_REPRODUCED
    elif able:
        deciding, verdict = by[MIXED], MIXED
    else:
        return {"verdict": INCONCLUSIVE, "holds_in": conditions[0]["holds_in"], "decided_by": []}
    # where conditions decide together, the one whose seeds held most often speaks for them
    best = max(deciding, key=lambda c: int(c["holds_in"].split("/")[0]))
    return {"verdict": verdict, "holds_in": best["holds_in"], "decided_by": [c["name"] for c in deciding]}


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
    named = [under(c) for c in full if c["verdict"] == REPRODUCED]
    leads = [under(c) for c in lead_conds]
    if named:
        text = f"reproduced {'; '.join(named)} (at every seed)"
    elif full:
        text = f"not reproduced under any of the {len(full)} valid condition(s) run at every seed"
    else:
        text = "no condition run at every seed passed its validity checks"
    if leads:
        text += f"; held {'; '.join(leads)} at the scan seed(s) only (a lead, not a verdict)"
    scanned_not = [under(c) for c in conditions
                   if c["n_seeds"] < n_seeds and c["verdict"] in (MIXED, NOT_REPRODUCED)]
    if scanned_not:
        text += f"; did not hold at the scan seed(s) {'; '.join(scanned_not)}"
    inconclusive = [c.get("label") or label(c["name"]) for c in conditions if c["verdict"] == INCONCLUSIVE]
    if inconclusive:
        text += f"; inconclusive: {'; '.join(inconclusive)}"
    text += f" ({len(conditions)} conditions tried)"
    return text


def under(condition: dict) -> str:
    """'under <condition>' for a sentence; a condition that switches the model already reads
    'under the WGAN'."""
    words = condition.get("label") or label(condition["name"])
    return words if words.startswith("under ") else f"under {words}"


def in_words(f: dict, n_seeds: int) -> str:
    """A claim's record as a clause a student can read: under which conditions tried it reproduced
    (every seed), or that it did not under any, or that no condition could test it, and why; for a
    claim judged in parts, each part's seeds."""
    conds = f.get("conditions") or [{"name": "base", "n_seeds": n_seeds, "verdict": f["verdict"],
                                     "holds_in": f["holds_in"], "validity": f["validity"]}]
    tried = f"{len(conds)} condition{'s' if len(conds) > 1 else ''} tried"
    able, lead_conds = judged_and_leads(conds, n_seeds)
    h = headline(conds, n_seeds)
    by_name = {c["name"]: c for c in conds}
    deciding = [by_name[n] for n in h["decided_by"]]
    if h["verdict"] == REPRODUCED:
        text = f"reproduced at every seed {'; '.join(under(c) for c in deciding)}, of the {tried}"
        others = [f"{under(c)} ({c['holds_in']} seeds)" for c in able if c["verdict"] != REPRODUCED]
        if others:
            text += f"; not at every seed {'; '.join(others)}"
    elif h["verdict"] == MIXED:
        partly = "; ".join(f"{under(c)} ({c['holds_in']} seeds)" for c in deciding)
        text = f"held at some seeds only, {partly}, of the {tried}"
    elif h["verdict"] == NOT_REPRODUCED:
        text = f"not reproduced under any of the {tried} ({len(able)} with valid runs at every seed)"
    else:
        failed = sorted({name for c in conds for name, v in c["validity"].items() if not v["ok"]})
        text = (f"could not be tested: none of the {tried} gave valid runs at every seed "
                f"(failed: {', '.join(failed)})")
    for part, p in (f.get("parts") or {}).items():
        where = f"seed{'s' * (len(p['held_at']) > 1)} {', '.join(p['held_at'])}" if p["held_at"] else "no seed"
        if p["verdict"] == INCONCLUSIVE:  # no condition could test it: where it showed, not a verdict
            text += f"; {part}: at {where} ({p['holds_in']}), in runs that do not count"
        else:
            text += f"; {part}: {p['verdict']} ({p['holds_in']}: {where})"
    for c in able:  # enough valid seeds for a verdict; the others are named, not counted
        if c.get("invalid_seeds"):
            bad = c["invalid_seeds"]
            failed = ", ".join(sorted(name for name, v in c["validity"].items() if not v["ok"]))
            text += (f"; {under(c)} seed{'s' * (len(bad) > 1)} {', '.join(bad)} not counted, "
                     f"{'their runs' if len(bad) > 1 else 'its run'} failing a validity check ({failed})")
    if lead_conds:
        text += f"; it held {'; '.join(under(c) for c in lead_conds)} at the one seed scanned, still to confirm at every seed"
    # run at every seed, held at some, but not valid: no verdict, and still worth a student's look
    for c in conds:
        if c["n_seeds"] < n_seeds or c["verdict"] != INCONCLUSIVE:
            continue
        failed = ", ".join(sorted(name for name, v in c["validity"].items() if not v["ok"]))
        if not c["holds_in"].startswith("0/"):
            text += (f"; {under(c)} it showed at {c['holds_in']} seeds, but in runs that failed "
                     f"a validity check ({failed}), which do not count")
        elif h["verdict"] != INCONCLUSIVE:  # a verdict from elsewhere; say why this one gave none
            text += f"; {under(c)} no verdict, its runs failing a validity check ({failed})"
    return text


def _condition(f: dict, name: str) -> dict:
    """A condition of a claim's record by name (the experiment's own setting when it has no map)."""
    return next((c for c in f.get("conditions", []) if c["name"] == name), {"name": name})


def decisive_checks(f: dict) -> tuple[dict, str]:
    """The per-check counts ("2/3") behind a claim's headline, and where they come from: the
    experiment's own setting, or, when only other conditions decided, the first of those (its valid seeds)."""
    by = [n for n in f.get("decided_by", []) if n != "base"]
    if not by or "base" in f.get("decided_by", []):
        return f.get("checks", {}), ""
    cond = _condition(f, by[0])
    valid = [s for s in cond["seeds"].values() if s.get("valid", True)]
    counts = {k: f"{sum(s['checks'][k] for s in valid)}/{len(valid)}" for k in valid[0]["checks"]} if valid else {}
    return counts, under(cond)


def why(f: dict) -> str:
    """A claim's verdict's reason in one plain clause, from the checks of the conditions that decided it."""
    failed = [name for name, v in f.get("validity", {}).items() if not v["ok"]]
    if f["verdict"] == INCONCLUSIVE:
        return f"not tested: {', '.join(failed)} failed"
    by = [n for n in f.get("decided_by", []) if n != "base"]
    if by and f["verdict"] != NOT_REPRODUCED:  # decided under conditions other than the experiment's own
        where = "; ".join(under(_condition(f, n)) for n in f["decided_by"])
        return f"{'every check held at every seed' if f['verdict'] == REPRODUCED else 'held at some seeds'} {where}"
    checks, where = decisive_checks(f)
    said = f.get("said", {})

    def at(k: str) -> str:  # "the samples went black at 1 of 3 seeds"
        k_of_n = checks[k].split("/")
        return f"{said.get(k, k)} at {k_of_n[0]} of {k_of_n[-1]} seeds"

    counted = [k for k, v in checks.items() if isinstance(v, str)]
    missed = [k for k in counted if checks[k].split("/")[0] != checks[k].split("/")[-1]]
    held = [k for k in counted if k not in missed]
    if f["verdict"] == REPRODUCED:
        return "every check held at every seed"
    reason = "; ".join(at(k) for k in missed) or "its checks failed"
    if f["verdict"] == NOT_REPRODUCED and held:
        reason += f" (while {'; '.join(at(k) for k in held)})"
    return f"{where}: {reason}" if where else reason
