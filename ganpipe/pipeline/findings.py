"""Stage findings: prove the instruments, then judge every claim, and write stages/findings/.

    controls     every artifact measure's line, from the controls stage (ganpipe.pipeline.controls)
    calibration  the trained rule on runs of known state (the default GAN and WGAN at their budgets
                 and at a tenth of them: findings experiments of their own, not the main models), and
                 F1's levelled check on its own (its arm at twice the budget, and cut at a tenth)
    claims       each claim (ganpipe.study.claims) at every seed and condition -> findings.json

Inputs: the findings experiments under stages/experiments/ (every seed, every map condition),
the main models (F2's logs, F6), the controls' lines, the toys and the math (run here: seconds).
Outputs: findings.json (one record per claim, see ganpipe.study.judge and ganpipe.study.verdicts),
verdicts.json (the verdicts, for `dvc exp show`) and evidence.json (the controls, the calibration
and the curves the report draws). The main models' own readings are the main-models stage's.
"""

from __future__ import annotations

import time
from pathlib import Path

from ganpipe.data.mnist import load_split
from ganpipe.measures import metrics
from ganpipe.measures.digit_cnn import load_classifier
from ganpipe.measures.evaluation import Reference, equal_n
from ganpipe.params import Params, ParamsError
from ganpipe.pipeline.controls import read_controls
from ganpipe.running.files import write_json
from ganpipe.running.tracking import stage_run
from ganpipe.study import conditions, trained, verdicts
from ganpipe.study.claims import CLAIMS
from ganpipe.study.claims.claim import SingleInputs
from ganpipe.study.evidence import SWEEP_PREFIX, Context, Runs, SnapshotMeter
from ganpipe.study.judge import judge_seeded, judge_single
from ganpipe.training import cost

# Measured snapshot series, by content (ganpipe.study.evidence.SnapshotMeter): beside the stage folders,
# outside every stage's outputs, so DVC neither clears nor tracks it
SERIES_CACHE = ".series-cache"


def check_experiments(params: Params) -> list[str]:
    """The clip sweep, once every findings experiment a claim reads is known to be there; or a
    ParamsError naming the missing one."""
    exps = params.findings.experiments
    sweep = sorted(n for n in exps if n.startswith(SWEEP_PREFIX))
    bad = [n for n in sweep if exps[n].model != "wgan" or exps[n].constraint != "clip"]
    if len(sweep) < 2 or bad:
        raise ParamsError(f"findings.experiments: the F3 clip sweep needs at least two wgan/clip experiments "
                          f"named {SWEEP_PREFIX}*; found {sweep} (not wgan/clip: {bad})")
    needs = {name: f"claim {c.id} is measured on it" for c in CLAIMS.values() if c.seeded for name in c.experiments(sweep)}
    needs |= {name: "the trained rule is calibrated on it" for name in (*trained.LONGS, *trained.TENTHS)}
    needs |= {trained.HELD["experiment"]: "F1's levelled check is calibrated on it"}
    for name, why in needs.items():
        if name not in exps:
            raise ParamsError(f"findings.experiments.{name} is missing: {why}")
    held, arm = exps[trained.HELD["experiment"]], exps[trained.HELD["arm"]]
    watch = {"steps", "grid_every", "seeds", "map", "confirm"}
    if held.model_dump(exclude=watch) != arm.model_dump(exclude=watch) or held.steps <= arm.steps:
        raise ParamsError(f"findings.experiments.{trained.HELD['experiment']}: must be {trained.HELD['arm']}'s "
                          f"configuration at a longer budget (runs of known state for its levelled check)")
    return sweep


def gather(params: Params, stages: Path, data_path: Path, classifier_path: Path) -> tuple[dict, dict]:
    """Every claim's record, and what the report draws."""
    sweep = check_experiments(params)
    f = params.findings
    exps = f.experiments
    clf = load_classifier(classifier_path)
    train, test = load_split(data_path, "train"), load_split(data_path, "test")
    real = metrics.artifact_measures(test.images)
    controls = read_controls(stages / "controls" / "controls.json")  # every measure proven before it judges
    limits = {name: c["threshold"] for name, c in controls.items()}
    snap_n = min(f.fid_snapshot_n, len(test.images))
    real_snap_feats, _ = clf.embed(test.images[:snap_n])
    n = equal_n(params.evaluate.n_samples, len(test.images), len(train.images))
    reference = Reference(clf, test.images[:n], k=params.evaluate.k)
    meter = SnapshotMeter(classifier_path, real_snap_feats, limits["peak_brightness"], cache=stages / SERIES_CACHE)
    runs = Runs(stages, meter)
    every_run = [(name, cond.name, seed) for name, exp in exps.items()
                 for cond in conditions.conditions(exp, f.seeds, f.map_seeds) for seed in cond.seeds]
    measured = [runs.folder(*key) for key in every_run]
    runs.measure(measured)
    meter.prune(keep=measured)
    clips = {name: exps[name].clip for name in sweep}
    calibration = trained.calibration(params, runs, clf, real_snap_feats)
    flops = {name: cost.step_flops(exps[name].model, exps[name]) for c in CLAIMS.values() if c.id == "F5"
             for name in c.experiments(sweep)}
    ctx = Context(real=real, sweep=sweep, clips=clips, flops=flops, formed_within=f.validity.formed_within,
                  experiments=exps)
    t = {**f.thresholds.model_dump(), **limits}
    rule = trained.Rule(calibration)

    result, drawn = {}, {}
    single = SingleInputs(params=params, stages=stages, runs=runs, reference=reference, n=n)
    for cid, claim in CLAIMS.items():
        if claim.seeded:
            result[cid] = judge_seeded(claim, params, runs, ctx, t, controls, rule)
            drawn |= claim.drawn(runs, params, ctx, rule) if claim.drawn else {}
        else:
            result[cid], extra = judge_single(claim, single, t)
            drawn |= extra

    # what the report draws: every run's snapshot measures and timing, each sweep run's weight histogram
    series, timing, hists = {}, {}, {}
    for name, cond, seed in every_run:
        key = f"{name}/{cond}/seed_{seed}"
        series[key] = runs.series(name, cond, seed)
        timing[key] = runs.run(name, cond, seed).timing
        if name in sweep:
            hists[key] = runs.histogram(name, cond, seed, clips[name])
    evidence = {"n": n, "snapshot_n": snap_n, "real": real, "series": series, "timing": timing,
                "controls": controls, "calibration": calibration, "flops": flops,
                "seeds": f.seeds, "map_seeds": f.map_seeds, "sweep": sweep, "clips": clips, "histograms": hists,
                "configs": {name: exps[name].model_dump(mode="json") for name in exps}, **drawn}
    return result, evidence


def run_findings(params: Params, out: Path, stages: Path, data_path: Path, classifier_path: Path) -> dict:
    check_experiments(params)  # before any work
    with stage_run("findings", params, groups=("findings",)) as run:
        began = time.perf_counter()
        result, evidence = gather(params, stages, data_path, classifier_path)
        write_json(out / "findings.json", result)
        # the one line per claim `dvc exp show` puts beside the params; findings.json holds the numbers
        write_json(out / "verdicts.json", {claim: {"verdict": r["verdict"], "holds_in": r["holds_in"]}
                                           for claim, r in result.items()})
        write_json(out / "evidence.json", evidence)
        run.set_tags({f"verdict.{claim}": r["verdict"] for claim, r in result.items()})
        counts = {f"verdicts.{state.replace(' ', '_')}": sum(r["verdict"] == state for r in result.values())
                  for state in verdicts.STATES}
        run.log_metrics({**counts, "seconds": time.perf_counter() - began}, 0)
        run.log_to_pipeline(counts)
        run.log_artifact(out / "findings.json")
    return result
