"""Two studies' findings side by side (`ganpipe compare`): the same params on two machines, or on two
commits. A run's numbers depend on its seed and on the CPU's float rounding, and a GAN run is
chaotic, so two machines can part at a seed: this says where, and whether any verdict moved.

Everything is read from two findings.json files (the findings stage's output); nothing is re-run.
"""

from __future__ import annotations

import numpy as np

from ganpipe.report.tables import table, with_spread


def _conditions(record: dict) -> list[dict]:
    """A seeded claim's conditions, each with its seeds; the experiment's own setting alone when the
    claim has no map."""
    if record.get("conditions"):
        return record["conditions"]
    return [{"name": "base", "label": "its own setting", **{k: record[k] for k in ("seeds", "validity", "holds_in",
                                                                                   "verdict")}}]


def _relative(a, b) -> float | None:
    if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in (a, b)):
        return None
    scale = max(abs(a), abs(b))
    return 0.0 if scale == 0 else abs(a - b) / scale


def compare(a: dict, b: dict) -> dict:
    """What two findings records share, and where they part: each claim's verdict on both sides; each
    seed of each condition run on both whose outcome (all checks hold, or the seed's validity) differs; each validity check
    that passed on one side only; and how far the observed numbers moved (median relative change)."""
    verdicts, seeds, validity, drift = [], [], [], []
    shared_seeds = 0
    for cid in (c for c in a if c in b):
        ra, rb = a[cid], b[cid]
        verdicts.append({"claim": cid, "a": ra["verdict"], "a_holds_in": ra["holds_in"], "b": rb["verdict"],
                         "b_holds_in": rb["holds_in"], "same": ra["verdict"] == rb["verdict"],
                         "seeded": "seeds" in ra})
        if "seeds" not in ra or "seeds" not in rb:
            continue
        by_name = {c["name"]: c for c in _conditions(rb)}
        for ca in _conditions(ra):
            cb = by_name.get(ca["name"])
            if cb is None:
                continue
            for name, va in ca["validity"].items():
                vb = cb["validity"].get(name)
                if vb is not None and va["ok"] != vb["ok"]:
                    validity.append({"claim": cid, "condition": ca.get("label", ca["name"]), "check": name,
                                     "a": va["value"], "b": vb["value"], "a_ok": va["ok"], "b_ok": vb["ok"]})
            for seed in (s for s in ca["seeds"] if s in cb["seeds"]):
                sa, sb = ca["seeds"][seed], cb["seeds"][seed]
                shared_seeds += 1
                changes = [r for k, v in sa["observed"].items() if (r := _relative(v, sb["observed"].get(k))) is not None]
                drift.extend(changes)
                if sa["holds"] != sb["holds"] or sa.get("valid", True) != sb.get("valid", True):
                    parted = [k for k in sa["checks"] if sa["checks"][k] != sb["checks"].get(k)]
                    if sa.get("valid", True) != sb.get("valid", True):
                        parted.append("valid")
                    seeds.append({"claim": cid, "condition": ca.get("label", ca["name"]), "seed": seed,
                                  "a": sa["holds"], "b": sb["holds"], "checks": parted})
    return {"verdicts": verdicts, "seeds": seeds, "validity": validity, "shared_seeds": shared_seeds,
            "drift": {"median": float(np.median(drift)) if drift else 0.0,
                      "p90": float(np.percentile(drift, 90)) if drift else 0.0,
                      "identical": float(np.mean([d == 0 for d in drift])) if drift else 1.0, "numbers": len(drift)}}


def _said(verdict: str, k_of_n: str, seeded: bool) -> str:
    return f"{verdict} ({with_spread(k_of_n) if seeded else k_of_n})"


def as_markdown(result: dict, a_name: str, b_name: str) -> str:
    """The comparison as the tables a reader checks: verdicts, the seeds that parted, the validity
    checks that parted, and the numbers' drift."""
    rows = [[v["claim"], _said(v["a"], v["a_holds_in"], v["seeded"]), _said(v["b"], v["b_holds_in"], v["seeded"]),
             "same" if v["same"] else "**differs**"] for v in result["verdicts"]]
    moved = sum(not v["same"] for v in result["verdicts"])
    d = result["drift"]
    md = [f"Verdicts: {len(result['verdicts']) - moved} of {len(result['verdicts'])} the same.", "",
          table(["claim", a_name, b_name, ""], rows), "",
          f"Seeds run on both: {result['shared_seeds']} (claim x condition x seed); their outcome (all checks "
          f"hold) parted at {len(result['seeds'])}.", ""]
    if result["seeds"]:
        md += [table(["claim", "condition", "seed", a_name, b_name, "checks that parted"],
                     [[s["claim"], s["condition"], s["seed"], s["a"], s["b"], ", ".join(s["checks"])]
                      for s in result["seeds"]]), ""]
    md += [f"Validity checks that passed on one side only: {len(result['validity'])}.", ""]
    if result["validity"]:
        md += [table(["claim", "condition", "check", a_name, b_name],
                     [[v["claim"], v["condition"], v["check"], f"{'ok' if v['a_ok'] else 'failed'}: {v['a']}",
                       f"{'ok' if v['b_ok'] else 'failed'}: {v['b']}"] for v in result["validity"]]), ""]
    md += [f"Observed numbers at the shared seeds: {d['numbers']}; identical to the last digit: {d['identical']:.0%}; "
           f"relative change median {d['median']:.2g}, 90th percentile {d['p90']:.2g}.", ""]
    return "\n".join(md)
