"""Stage report: render reports/report.md (and reports/figures/) from the stage outputs."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import yaml

from ganpipe.data.mnist import load_split
from ganpipe.measures import controls
from ganpipe.params import Params
from ganpipe.report.html import html_page
from ganpipe.report.render import render
from ganpipe.running.execution import EXECUTION_TAG
from ganpipe.running.files import load_npz
from ganpipe.running.tracking import git_changes, git_commit, repo_root, stage_run, tracking_uri
from ganpipe.study.claims import CLAIMS, what_runs_show
from ganpipe.study.conditions import BASE, conditions, run_folder
from ganpipe.study.see_it import lines, said

MODELS = ("ae", "vae", "gan", "wgan")


def _read_json(path: Path) -> dict:
    from ganpipe.running.files import InputError

    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise InputError(f"{path}: file not found (run the stage that writes it first)") from None
    except json.JSONDecodeError as exc:
        raise InputError(f"{path}: not valid JSON ({exc})") from None


def latest_runs(uri: str, experiment: str, params_digest: str) -> dict[str, str]:
    """The newest MLflow run id of each stage run at these params, and of the pipeline execution's
    parent run (the one that carries no stage). A stage run at other params (a `dvc exp run`'s,
    after the workspace went back) did not make these outputs, however new it is."""
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=uri)
    exp = client.get_experiment_by_name(experiment)
    if exp is None:
        return {}
    runs: dict[str, str] = {}
    for run in client.search_runs([exp.experiment_id], order_by=["attributes.start_time DESC"], max_results=500):
        tags = run.data.tags
        name = tags.get("stage") or ("pipeline execution (parent)" if EXECUTION_TAG in tags else None)
        if name and run.data.params.get("params_digest", params_digest) == params_digest:
            runs.setdefault(name, run.info.run_id)
    return runs


def dvc_outputs(lock: Path) -> list[list[str]]:
    if not lock.exists():
        return []
    stages = (yaml.safe_load(lock.read_text()) or {}).get("stages", {})
    return [[name, out["path"], out.get("md5", "")] for name, stage in stages.items() for out in stage.get("outs", [])]


def restored_runs(stages: Path, experiments) -> dict:
    """How many of the experiments' runs this report reads were restored from the run cache rather
    than trained by the stage that wrote them, and the commit each restored run first trained at."""
    runs, commits = 0, {}
    for name in experiments:
        summary = _read_json(stages / "experiments" / name / "experiment.json")
        for run in summary["runs"]:
            runs += 1
            origin = run.get("restored_from")
            if origin:
                commit = origin["commit"][:12] + (" (changed tree)" if origin.get("tree_changed") else "")
                commits[commit] = commits.get(commit, 0) + 1
    return {"runs": runs, "restored": sum(commits.values()), "first_trained_at": commits}


def store_for_readers(uri: str, root: Path) -> str:
    """The tracking store as the report names it: a store inside the repository relative to it
    (the absolute path is only true on the machine that ran the pipeline); a server as its URI."""
    if uri.startswith("sqlite:///"):
        path = Path(uri.removeprefix("sqlite:///"))
        try:
            return f"{path.relative_to(root)} (SQLite, in the repository; `ganpipe ui` opens it)"
        except ValueError:
            return uri
    return uri


def write_report(params: Params, out: Path, stages: Path = Path("stages")) -> Path:
    findings = _read_json(stages / "findings" / "findings.json")
    evidence = _read_json(stages / "findings" / "evidence.json")
    evidence["main_models"] = _read_json(stages / "main_models" / "readings.json")  # "Your knobs"
    metrics = _read_json(stages / "evaluate" / "metrics.json")
    samples = {m: load_npz(stages / m / "samples.npz", required=("images",))["images"] for m in MODELS}
    # the report's sample grids: each experiment's own setting at the first seed (key NAME) and at
    # every seed (NAME/seed_SEED), each condition of its map at its first seed (NAME/CONDITION)
    snaps = {}
    f = params.findings
    for name, exp in f.experiments.items():
        for cond in conditions(exp, f.seeds, f.map_seeds):
            z = load_npz(run_folder(stages / "experiments" / name, cond.name, cond.seeds[0]) / "snapshots.npz",
                         required=("steps", "images"))
            snaps[f"{name}/{cond.name}"] = (z["steps"], z["images"])
            if cond.name == BASE:
                snaps[name] = snaps[f"{name}/{cond.name}"]
                for seed in cond.seeds[1:]:  # every seed of the experiment's own setting, for the figures that show all
                    z = load_npz(run_folder(stages / "experiments" / name, cond.name, seed) / "snapshots.npz",
                                 required=("steps", "images"))
                    snaps[f"{name}/seed_{seed}"] = (z["steps"], z["images"])
                snaps[f"{name}/seed_{cond.seeds[0]}"] = snaps[name]
    uri = tracking_uri(params.mlflow)
    root = repo_root()
    with stage_run("report", params, groups=("findings",)) as run:
        provenance = {
            "git_commit": git_commit(root),
            "changed_files": git_changes(root),  # the tree the report was rendered from, against the commit
            "params_digest": params.digest(),
            "data": _read_json(stages / "prepare" / "data.json"),
            "mlflow_uri": store_for_readers(uri, root),
            "mlflow_runs": latest_runs(uri, params.mlflow.experiment, params.digest()),
            "dvc_outs": dvc_outputs(root / "dvc.lock"),
            "run_cache": restored_runs(stages, f.experiments),
        }
        real = load_split(stages / "prepare" / "mnist.npz", "test").images
        see_it = {cid: said(line) for cid, line in lines(params, findings, evidence["clips"], stages).items()}
        render(out, claims=CLAIMS, see_it=see_it, shows=what_runs_show(findings, len(evidence["seeds"])), findings=findings, evidence=evidence, metrics=metrics, provenance=provenance,
               model_samples=samples, experiment_snapshots=snaps,
               params_summary={"wgan_clip": params.wgan.clip, "gan_generator": params.gan.generator},
               control_strip=controls.strip(real, f.controls))
        run.log_artifact(out / "report.md")
        run.log_artifact(out / "figures")
        with tempfile.TemporaryDirectory() as tmp:  # for the MLflow UI only: not a DVC output
            page = Path(tmp) / "report.html"
            page.write_text(html_page((out / "report.md").read_text(), out))
            run.log_artifact(page)
    return out / "report.md"
