"""The report's appendix: the measures on their controls (with one digit under every control), the
trained rule on its runs of known state, and F1's levelled check on its own."""

from __future__ import annotations

from ganpipe.report.figures import Figures, control_strip_figure, fid_curves_figure
from ganpipe.report.prose import say
from ganpipe.report.tables import fmt, table


def instruments(evidence: dict, strip: dict | None, figs: Figures) -> list[str]:
    """The measures on their controls, the control strip, and the trained rule's calibration."""
    controls, cal = evidence["controls"], evidence["calibration"]
    md = ["### Measures and their controls", "", say("controls"), ""]
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
        md += [f"![controls]({figs.add('controls.png', control_strip_figure(strip))})", "", say("controls_caption"), ""]
    md += ["### The trained rule, calibrated", "", say("trained_rule", snapshot_n=evidence["snapshot_n"]), ""]
    limit = cal.get("threshold")
    rows = []
    for budget, group in (("full (must pass)", cal["long"]), ("a tenth (must fail)", cal["short"])):
        for name, w in group.items():
            rows.append([name, budget, w and w["first"], w and w["last"], w and w["remaining"], w and w["recent"],
                         w is not None and limit is not None and w["untrained"] <= limit])
    md += [table(["run", "budget", "first FID", "last third (median)", "remaining", "recent", "trained"], rows), "",
           say("trained_rule_limit", limit=fmt(limit), separates=fmt(cal["separates"])),
           ""]
    if "noise" in cal:
        nz = cal["noise"]
        md += [say("snapshot_noise", draws=nz["draws"], snapshot_n=evidence["snapshot_n"], mean=fmt(nz["mean"]),
                   std=fmt(nz["std"]), relative=fmt(100 * nz["relative"])), ""]
    md += [f"![trained rule]({figs.add('trained_rule.png', fid_curves_figure(cal['curves']))})", ""]
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
            say("held", series=held["series"], experiment=held["experiment"], arm=held["arm"]), "",
            table(["run", "budget", "moving", "levelled"], rows), "",
            say("held_limit", limit=fmt(held["threshold"]), separates=fmt(held["separates"])), ""]
