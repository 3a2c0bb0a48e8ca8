"""Stage findings: gather the evidence for each claim, judge it, write stages/findings/.

Inputs: the toy experiments (run here: seconds), the findings experiments under
stages/experiments/ (F1, F3/F3b, F4/F4b/F4c, F5: every seed and every condition of their maps),
the main GAN's logs (F2 on MNIST) and the main AE and VAE (F6). The main WGAN is not an input,
so `-S wgan.clip=...` does not re-run this stage. Outputs: findings.json (one record per claim,
see ganpipe.findings and ganpipe.verdicts), verdicts.json (the verdicts, for `dvc exp show`) and
evidence.json (the curves and tables the report draws).
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from ganpipe import conditions, findings, metrics, toy, verdicts
from ganpipe.classifier import load_classifier
from ganpipe.data import load_split
from ganpipe.evaluation import Reference, equal_n
from ganpipe.evidence import EVIDENCE, HEADS, ROLES, SWEEP_PREFIX, Run, Runs
from ganpipe.files import write_json
from ganpipe.params import Params, ParamsError
from ganpipe.tracking import stage_run


def check_experiments(params: Params) -> list[str]:
    """The findings experiments this stage needs, or a ParamsError naming the missing one."""
    exps = params.findings.experiments
    for claim, name in ROLES.items():
        if name not in exps:
            raise ParamsError(f"findings.experiments.{name} is missing: claim {claim} is measured on it")
    sweep = sorted(n for n in exps if n.startswith(SWEEP_PREFIX))
    bad = [n for n in sweep if exps[n].model != "wgan" or exps[n].constraint != "clip"]
    if len(sweep) < 2 or bad:
        raise ParamsError(f"findings.experiments: the F3 clip sweep needs at least two wgan/clip experiments "
                          f"named {SWEEP_PREFIX}*; found {sweep} (not wgan/clip: {bad})")
    return sweep


def claim_experiments(claim: str, sweep: list[str]) -> list[str]:
    """The experiments a claim reads; the first one's conditions are the claim's."""
    if claim in ("F3", "F3b"):
        return sweep
    if claim in ("F4", "F4b", "F4c"):
        return [ROLES[claim]] + [n for n in HEADS.values() if n != ROLES[claim]]
    if claim == "F5":
        return [ROLES["F5"], HEADS["conv5"]]
    return [ROLES[claim]]


def claim_conditions(params: Params, claim: str, sweep: list[str]) -> list[conditions.Condition]:
    """The claim's conditions: those of its first experiment that every experiment it reads ran
    (F5 compares against conv5's own setting, so only its first experiment counts)."""
    f, exps = params.findings, params.findings.experiments
    names = claim_experiments(claim, sweep)
    own = conditions.conditions(exps[names[0]], f.seeds, f.map_seeds)
    if claim == "F5":
        return own
    ran = [{c.name for c in conditions.conditions(exps[n], f.seeds, f.map_seeds)} for n in names[1:]]
    return [c for c in own if all(c.name in r for r in ran)]


def judge_claim(claim: str, params: Params, runs: Runs, real: dict, sweep: list[str], clips: dict) -> dict:
    """A training-based claim at every seed of each of its conditions: the first condition (the
    experiment's own setting) gives the verdict, the others its condition map."""
    f = params.findings
    judge, validity = findings.JUDGES[claim], findings.VALIDITY[claim]
    results = []
    for cond in claim_conditions(params, claim, sweep):
        records, checks = {}, {}
        for seed in cond.seeds:
            ev = EVIDENCE[claim](runs, cond.name, seed, real, sweep, clips)
            records[seed] = judge(ev, f.thresholds)
            checks[seed] = validity(ev, f.validity)
        results.append({"name": cond.name, "condition": cond.overrides, "n_seeds": len(cond.seeds),
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
        table = [{k: r[k] for k in ("name", "condition", "n_seeds", "validity", "holds_in", "verdict", "seeds")}
                 for r in results]
        record["conditions"] = table
        record["conditions_summary"] = verdicts.map_summary(table, len(f.seeds))
    return record


def gather(params: Params, stages: Path, data_path: Path, classifier_path: Path) -> tuple[dict, dict]:
    """Every claim's record, and the curves/tables for the report."""
    sweep = check_experiments(params)
    f = params.findings
    exps = f.experiments
    clf = load_classifier(classifier_path)
    train, test = load_split(data_path, "train"), load_split(data_path, "test")
    real = metrics.artifact_measures(test.images)
    snap_n = min(f.fid_snapshot_n, len(test.images))
    real_snap_feats, _ = clf.embed(test.images[:snap_n])
    n = equal_n(params.evaluate.n_samples, len(test.images), len(train.images))
    reference = Reference(clf, test.images[:n], k=params.evaluate.k)
    runs = Runs(stages, clf, reference, real_snap_feats)
    clips = {name: exps[name].clip for name in sweep}

    result = {claim: judge_claim(claim, params, runs, real, sweep, clips) for claim in findings.SEEDED}

    # what the report draws: every run's snapshot measures and timing, each sweep run's weight histogram
    series, timing, hists = {}, {}, {}
    for name, exp in exps.items():
        for cond in conditions.conditions(exp, f.seeds, f.map_seeds):
            for seed in cond.seeds:
                key = f"{name}/{cond.name}/seed_{seed}"
                series[key] = runs.series(name, cond.name, seed)
                timing[key] = runs.run(name, cond.name, seed).timing
                if name in sweep:
                    hists[key] = runs.histogram(name, cond.name, seed, clips[name])
    first = f.seeds[0]
    f1 = runs.run(ROLES["F1"], conditions.BASE, first)
    evidence: dict = {"n": n, "snapshot_n": snap_n, "real": real, "series": series, "timing": timing,
                      "seeds": f.seeds, "map_seeds": f.map_seeds, "sweep": sweep, "clips": clips, "histograms": hists,
                      "configs": {name: exps[name].model_dump(mode="json") for name in exps},
                      "F1_history": {k: f1.history[k].tolist() for k in ("step", "d_loss", "g_loss", "js_estimate", "d_acc_fake",
                                                                        "g_grad_norm_saturating", "g_grad_norm_nonsaturating")}}

    # single runs: the toys and the math (seconds, exact), the main models (F2 on MNIST, F6)
    t = f.thresholds
    tp = f.toy
    disjoint = toy.disjoint_supports(thetas=np.linspace(-1, 1, tp.thetas).tolist(), seed=params.seed, steps=tp.steps,
                                     clip=tp.clip)
    gan = Run(stages / "gan")
    mnist = {}
    for label, r in (("main_gan", gan), ("strong_d_gan", f1)):
        mnist[label] = {k: r.final(k) for k in ("js_estimate", "d_acc_real", "d_acc_fake", "g_grad_norm_saturating",
                                                "g_grad_norm_nonsaturating")}
    ev_f2 = {k: disjoint[k] for k in ("js_estimate_min", "js_estimate_max", "d_grad_mean_abs", "d_grad_nonsat_mean_abs",
                                      "critic_grad_mean_abs", "w_fit_slope", "w_fit_r2")} | {"mnist": mnist}
    evidence["F2_toy"] = disjoint
    evidence["F2_mnist"] = {"main_gan": {k: gan.history[k].tolist() for k in ("step", "js_estimate", "d_acc_real",
                                                                             "d_acc_fake", "g_grad_norm_saturating",
                                                                             "g_grad_norm_nonsaturating")}}
    dstar = toy.optimal_discriminator(seed=params.seed, steps=tp.d_star_steps)
    ev_f2b = {k: dstar[k] for k in ("mae_weighted", "mae_restricted", "max_abs_error_restricted",
                                    "const_half_mae_weighted", "js_estimate", "js_analytic")}
    evidence["F2b"] = dstar
    ae, vae = Run(stages / "ae"), Run(stages / "vae")
    ae_score, vae_score = reference.score(ae.samples[:n]), reference.score(vae.samples[:n])
    ev_f6 = {"ae_fid": ae_score["fid"], "vae_fid": vae_score["fid"],
             "ae_confidence": ae_score["confidence"], "vae_confidence": vae_score["confidence"],
             "ae_modes": ae_score["modes"], "vae_modes": vae_score["modes"],
             "ae_reconstruction": ae.final("recon"), "vae_reconstruction": vae.final("recon"), "vae_kl": vae.final("kl")}
    m = toy.math_identities(seed=params.seed)
    ev_f7 = {"kl_decomposition_error": m["kl_decomposition"]["max_abs_error"],
             "gan_value_error": max(m["gan_value_at_optimal_d"]["discrete_max_abs_error"],
                                    m["gan_value_at_optimal_d"]["gaussian_abs_error"]),
             "ml_min_kl_error": m["ml_equals_min_kl"]["discrete"]["identity_max_abs_error"],
             "ml_theta": m["ml_equals_min_kl"]["discrete"]["theta_ml"],
             "min_kl_theta": m["ml_equals_min_kl"]["discrete"]["theta_min_kl_population"],
             "printed_kl_at_p_equals_q": m["kl_printed_form"]["p_equals_q_printed"],
             "eq16_integral": m["eq16_sign"]["integral_p_r_log_pg_over_pr"], "kl_closed_form": m["eq16_sign"]["kl_closed_form"]}
    evidence["F7"] = m
    scopes = {"F2": "one run: a toy with exact answers, and the main GAN's logs",
              "F2b": "one run: a 1-D toy against the analytic D*", "F6": "one run: the main AE and VAE",
              "F7": "exact: numeric identities, no training"}
    for claim, ev in (("F2", ev_f2), ("F2b", ev_f2b), ("F6", ev_f6), ("F7", ev_f7)):
        record = findings.JUDGES[claim](ev, t)
        result[claim] = {**record, "holds_in": "1/1" if record["verdict"] == verdicts.REPRODUCED else "0/1",
                         "scope": scopes[claim], "validity": {}}
    return {c: result[c] for c in findings.JUDGES}, evidence


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
        run.log_metrics({"claims_reproduced": sum(r["verdict"] == "reproduced" for r in result.values()),
                         "seconds": time.perf_counter() - began}, 0)
        run.log_artifact(out / "findings.json")
    return result
