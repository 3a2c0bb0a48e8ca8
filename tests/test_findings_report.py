"""End to end on a tiny config: a real `dvc repro` of every stage in a fresh copy of the project
(conftest.E2E, shared with the UI and queue tests), then the findings' verdicts, the report and its
images, `dvc repro` again doing nothing, and `dvc exp run`s of one knob as a user makes them."""

import csv
import io
import json
import re
import subprocess
from pathlib import Path

import numpy as np
import pytest
import yaml

from conftest import dvc
from ganpipe.study.claims import CLAIMS, SEEDED
from ganpipe.study.verdicts import state

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def repo(e2e):
    """The shared tiny end-to-end repro (conftest.E2E), which these tests extend with `dvc exp run`."""
    return e2e.repo


@pytest.fixture(scope="module")
def clip_experiments(repo):
    """As a user works on committed results: a `dvc exp run -S wgan.clip=...`, once for the tests
    below. A clip below the critic's initial weights binds at once, so even 6 steps change the samples."""
    clips = {"clip0002": "0.002"}
    ran = {}
    for name, clip in clips.items():
        r = dvc("exp", "run", "-n", name, "-S", f"wgan.clip={clip}", cwd=repo)
        assert r.returncode == 0, r.stderr[-2000:]
        ran[name] = set(re.findall(r"Running stage '([^']+)'", r.stdout))
    return clips, ran


def test_every_claim_is_judged(repo):
    findings = json.loads((repo / "stages" / "findings" / "findings.json").read_text())
    assert set(findings) == set(CLAIMS)
    for claim, record in findings.items():
        assert record["verdict"] in ("reproduced", "mixed", "not reproduced", "inconclusive"), claim
        if claim in SEEDED:  # every seed judged, and the verdict follows from the seeds and the validity checks
            own = ["0", "1", "2", "3"] if claim == "F1" else ["0", "1"]  # F1's arm runs seeds of its own
            assert list(record["seeds"]) == own, claim
            holds = [s["holds"] for s in record["seeds"].values()]
            assert record["holds_in"] == f"{sum(holds)}/{len(own)}"
            valid = all(v["ok"] for v in record["validity"].values()) and record["validity"]
            assert record["verdict"] == state(holds, bool(valid)), claim
        else:
            assert record["verdict"] == ("reproduced" if all(record["checks"].values()) else "not reproduced")
    assert findings["F7"]["verdict"] == "reproduced"  # exact math: holds on any budget


def test_the_condition_map_runs_at_the_map_seeds(repo):
    f1 = json.loads((repo / "stages" / "findings" / "findings.json").read_text())["F1"]
    assert [(c["name"], list(c["seeds"])) for c in f1["conditions"]] == [("base", ["0", "1", "2", "3"]),
                                                                          ("output=sigmoid", ["0"])]
    assert f1["conditions"][0]["verdict"] == f1["verdict"]
    assert "conditions tried" in f1["conditions_summary"]
    assert (repo / "stages/experiments/f1_strong_d/output=sigmoid/seed_0/generator.pt").is_file()
    assert not (repo / "stages/experiments/f1_strong_d/output=sigmoid/seed_1").exists()
    report = (repo / "reports" / "report.md").read_text()
    assert "| sigmoid output | 1 |" in report and "*Condition map*" in report  # the condition as a reader says it
    # every seed of the arm in the F1 figure's history and in the validity proof, each count with its spread
    evidence = json.loads((repo / "stages" / "findings" / "evidence.json").read_text())
    assert list(evidence["F1_history"]) == ["0", "1", "2", "3"]
    assert [s for s in evidence["F1_held_rule"] if s != "tenths_fail"] == ["0", "1", "2", "3"]
    assert "F1 at 4 (0, 1, 2, 3), since its outcome differs between seeds" in report  # the scope says so up front
    assert "| its own setting | 4 |" in report and f"{f1['conditions'][0]['holds_in']} (" in report


def test_the_heads_also_run_under_the_wgan_as_a_map_cell(repo):
    findings = json.loads((repo / "stages" / "findings" / "findings.json").read_text())
    for claim in ("F4", "F4b", "F4c"):
        assert [c["name"] for c in findings[claim]["conditions"]] == ["base", "model=wgan+n_critic=2"], claim
    run = repo / "stages/experiments/f4_conv3/model=wgan+n_critic=2/seed_0"
    assert (run / "critic.pt").is_file() and not (run / "discriminator.pt").exists()  # trained as a WGAN
    assert "wasserstein" in (run / "history.csv").read_text().splitlines()[0]


@pytest.fixture
def meter_inputs(repo):
    """Two runs to measure (f4_fc's GAN and WGAN cell at seed 0), the classifier and real features."""
    runs = sorted((repo / "stages/experiments/f4_fc").glob("*/seed_0"))
    real_feats = np.random.default_rng(0).normal(size=(64, 128)).astype(np.float32)
    return runs, repo / "stages/classifier/classifier.pt", real_feats


def test_snapshot_series_are_the_same_bits_in_worker_processes_as_in_this_one(meter_inputs):
    from ganpipe.study.evidence import SnapshotMeter

    runs, classifier, real_feats = meter_inputs
    meter = SnapshotMeter(classifier, real_feats, 0.3)
    assert len(runs) == 2
    assert meter.many(runs) == {run: meter.one(run) for run in runs}


def test_a_cached_series_is_read_back_as_measured_and_a_changed_run_is_measured_again(meter_inputs, tmp_path,
                                                                                       monkeypatch):
    import shutil

    from ganpipe.study.evidence import SnapshotMeter

    runs, classifier, real_feats = meter_inputs
    fresh = SnapshotMeter(classifier, real_feats, 0.3).many(runs)
    cold = SnapshotMeter(classifier, real_feats, 0.3, cache=tmp_path / "cache").many(runs)
    assert cold == fresh and len(list((tmp_path / "cache").glob("*.json"))) == len(runs)

    def measured(self, folder):
        raise AssertionError(f"{folder} was measured again")

    monkeypatch.setattr(SnapshotMeter, "_measure", measured)
    warm = SnapshotMeter(classifier, real_feats, 0.3, cache=tmp_path / "cache")
    assert warm.many(runs) == fresh
    # other snapshots, or another classifier: another key, so the series is measured anew
    changed = tmp_path / "changed"
    shutil.copytree(runs[0], changed)
    snaps = np.load(changed / "snapshots.npz")
    np.savez_compressed(changed / "snapshots.npz", steps=snaps["steps"], images=snaps["images"][::-1])
    with pytest.raises(AssertionError, match="measured again"):
        warm.one(changed)
    with pytest.raises(AssertionError, match="measured again"):
        SnapshotMeter(classifier, real_feats * 2, 0.3, cache=tmp_path / "cache").one(runs[0])
    warm.prune(keep=runs[:1])
    assert len(list((tmp_path / "cache").glob("*.json"))) == 1


def test_moving_a_threshold_moves_the_verdict(repo):
    findings = json.loads((repo / "stages" / "findings" / "findings.json").read_text())
    f3 = findings["F3"]
    observed = f3["seeds"]["0"]["observed"]
    share = observed["boundary_share"]
    judge = CLAIMS["F3"].judge
    assert judge(observed, {"boundary_share": share / 2})["verdict"] == ("reproduced" if share > 0 else "not reproduced")
    assert judge(observed, {"boundary_share": share * 2 if share > 0 else 0.5})["verdict"] == "not reproduced"
    f7 = findings["F7"]["observed"]
    assert CLAIMS["F7"].judge(f7, {"f7_tolerance": 1e-300})["verdict"] == "not reproduced"
    assert f3["thresholds"]["boundary_share"] == json.loads(
        (repo / "stages" / "findings" / "evidence.json").read_text())["controls"]["boundary_share"]["threshold"]


def test_report_links_only_existing_images(repo):
    report = (repo / "reports" / "report.md").read_text()
    links = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", report) + re.findall(r'<img src="([^"]+)"', report)
    assert len(links) >= 10
    for link in links:
        assert (repo / "reports" / link).is_file(), link
    for claim in CLAIMS:
        assert f"### {claim}." in report
    assert "### Measures and their controls" in report and "### The trained rule, calibrated" in report
    assert report.index("## Appendix: the instruments") > report.index("## The findings in detail")
    assert "## Provenance" in report and "sha256 images" in report


def test_report_opens_with_the_hands_on_findings_table_from_their_records(repo):
    """A student's first screen: the scope, then one row per hands-on finding (what the note says,
    what the runs show in its record's words, the verdict, why, a picture), within 40 lines;
    the toys and the math after it, apart."""
    from ganpipe.study.claims import SEEDED
    from ganpipe.study.verdicts import in_words

    report = (repo / "reports" / "report.md").read_text()
    findings = json.loads((repo / "stages" / "findings" / "findings.json").read_text())
    first = "\n".join(report.splitlines()[:40])
    assert first.startswith("# The note's GAN findings, re-run") and "*Scope:* MNIST" in first
    assert "| finding | the note says | what the runs show | verdict | why | picture |" in first
    for claim in SEEDED:
        row = next(line for line in first.splitlines() if line.startswith(f"| **{claim}** "))
        assert in_words(findings[claim], 2) in row and f"**{findings[claim]['verdict']}**" in row
    assert f"Of these {len(SEEDED)}:" in first
    toys = report[report.index("## The toys and the math"):report.index("## The models")]
    assert all(f"| **{c}** " in toys for c in CLAIMS if c not in SEEDED)
    assert "working tree clean" in first or "working tree differs" in first


def test_one_knob_on_a_fresh_clone_trains_the_main_models_and_no_experiment(tmp_path):
    """`dvc exp run -S ... main-models` on a fresh clone: the main models' path has its own end, so
    no findings experiment (nor the findings) stands between a knob and its reading."""
    from conftest import copy_project

    repo = copy_project(tmp_path / "fresh")
    dag = dvc("dag", "--dot", "main-models", cwd=repo)  # the stages `dvc repro main-models` runs
    assert dag.returncode == 0, dag.stderr[-2000:]
    ran = set(re.findall(r'^"([^"]+)";$', dag.stdout, flags=re.M))
    assert ran == {"prepare", "train-classifier", "controls", "train@ae", "train@vae", "train@gan", "train@wgan",
                   "evaluate", "main-models"}, ran


def test_the_main_models_page_reads_each_model_in_the_notes_terms(repo):
    out = repo / "stages" / "main_models"
    page = (out / "page.md").read_text()
    readings = json.loads((out / "readings.json").read_text())
    assert page.startswith("# The main models in the note's terms")
    for model in ("wgan", "gan"):
        assert (out / "figures" / f"{model}_over_training.png").read_bytes()[:4] == b"\x89PNG"
        for r in (v for k, v in readings[model].items() if k != "knobs"):
            assert f"**{r['words']}**" in page
    # the report's "Your knobs" reads the same numbers
    report = (repo / "reports" / "report.md").read_text()
    assert "## Your knobs" in report


def test_every_hands_on_section_ends_with_a_command_that_sets_only_listed_knobs(repo):
    """Each see-it-yourself line names the main-models stage and sets knobs params.yaml lists (no `+`)."""
    report = (repo / "reports" / "report.md").read_text()
    params = yaml.safe_load((repo / "params.yaml").read_text())
    commands = re.findall(r"^dvc exp run ((?:-S \S+ )*)main-models$", report, flags=re.M)
    assert len(commands) == len([c for c in SEEDED if c in CLAIMS]), commands
    for line in commands:
        for knob in re.findall(r"-S (\S+)=", line):
            group, key = knob.split(".")
            assert key in params[group], knob


def test_training_stages_write_grids_and_reconstructions(repo):
    for model in ("ae", "vae", "gan", "wgan"):
        out = repo / "stages" / model
        assert (out / "grid.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", model
        assert (out / "reconstructions.png").is_file() == (model in ("ae", "vae")), model


def test_second_repro_does_nothing(repo):
    again = dvc("repro", cwd=repo)
    assert again.returncode == 0
    assert "Running stage" not in again.stdout


def test_changed_clip_reruns_the_wgan_branch_and_no_experiment(repo, clip_experiments):
    clips, ran = clip_experiments
    # main-models reads the new main WGAN with the claims' measures; no experiment, nor the findings, re-runs
    for name in clips:
        assert ran[name] == {"train@wgan", "evaluate", "main-models", "report"}, ran
    assert f"**The main WGAN** (clip {clips['clip0002']}," in (repo / "reports" / "report.md").read_text()
    shown = dvc("exp", "show", "--csv", cwd=repo)
    assert shown.returncode == 0 and "wgan.clip" in shown.stdout and "wgan.boundary_share" in shown.stdout
    # a study knob shows once per row, as findings.yaml has it (not its lists repeated per stage that names it)
    rows = list(csv.DictReader(io.StringIO(shown.stdout)))
    assert {row["findings.seeds"] for row in rows} == {"[0, 1]"}, rows


def test_a_main_model_knob_moves_its_reading_and_no_verdict_nor_the_trained_rule(e2e, clip_experiments):
    """The user's knob must not move the instrument: after `dvc exp run -S wgan.clip=0.002` every
    claim's verdict and the trained rule's limit are those of the committed repro, while the main
    WGAN's reading in the claims' terms (its critic's weights at the clip) moved."""
    def read(root):
        f = root / "stages" / "findings"
        evidence = json.loads((f / "evidence.json").read_text())
        return (json.loads((f / "verdicts.json").read_text()), evidence["calibration"]["threshold"],
                json.loads((root / "stages" / "main_models" / "main_models.json").read_text()))

    before, after = read(e2e.pristine), read(e2e.repo)
    assert after[0] == before[0]
    assert after[1] == before[1]
    assert after[2]["wgan"]["boundary_share"] != before[2]["wgan"]["boundary_share"]
    assert after[2]["gan"] == before[2]["gan"]


def test_final_values_average_the_last_50_steps_whatever_log_every_is():
    """A run's "final" loss covers the same training steps at any logging resolution."""
    import numpy as np

    from ganpipe.study.evidence import Run

    every10, every25 = Run.__new__(Run), Run.__new__(Run)
    every10.history = {"step": np.arange(10, 601, 10), "d_loss": np.arange(10, 601, 10) / 10.0}
    every25.history = {"step": np.arange(25, 601, 25), "d_loss": np.arange(25, 601, 25) / 10.0}
    assert every10.final("d_loss") == pytest.approx(np.mean([56, 57, 58, 59, 60]))  # steps 560..600
    assert every25.final("d_loss") == pytest.approx(np.mean([57.5, 60]))  # steps 575, 600


def test_each_pipeline_run_is_one_mlflow_parent_and_exp_show_fits_a_screen(repo, clip_experiments):
    """As a user works: the results committed, then a `dvc exp run -S wgan.clip=...`. Each
    pipeline execution is one MLflow parent run; an experiment's parent is named after it, holds
    the param it changed, nests the stages that ran and links those DVC skipped; the WGAN's
    training run carries its FID; the experiment opens in MLflow's training view. And
    `dvc exp show --only-changed` fits a screen, FID first, then the knob."""
    from mlflow.tracking import MlflowClient

    clips, _ = clip_experiments
    shown = dvc("exp", "show", "--only-changed", "--csv", cwd=repo)
    assert shown.returncode == 0, shown.stderr
    header = next(csv.reader(io.StringIO(shown.stdout)))
    assert len(header) <= 40, header
    assert "wgan.fid" in header and "wgan.clip" in header, header
    assert header.index("wgan.fid") < header.index("wgan.clip")

    client = MlflowClient(tracking_uri=f"sqlite:///{repo / 'mlflow.db'}")
    exp = client.get_experiment_by_name("ganpipe")
    assert exp.tags["mlflow.experimentKind"] == "custom_model_development"
    runs = client.search_runs([exp.experiment_id], max_results=1000)
    parents = {r.info.run_name: r for r in runs if "ganpipe.execution" in r.data.tags}
    children = {pid: [r for r in runs if r.data.tags.get("mlflow.parentRunId") == pid] for pid in
                (p.info.run_id for p in parents.values())}
    assert clips.keys() <= parents.keys() and len(parents) >= 2  # the repro and the experiment
    repro = next(p for name, p in parents.items() if name.startswith("dvc repro"))
    assert len(children[repro.info.run_id]) == len(yaml.safe_load((repo / "dvc.lock").read_text())["stages"])
    # the parent's collapsed row says what happened: each model's headline numbers, the verdicts by state
    committed = {name: json.loads(subprocess.run(["git", "show", f"HEAD:stages/{name}"], cwd=repo, check=True,
                                                 capture_output=True, text=True).stdout)
                 for name in ("evaluate/summary.json", "findings/verdicts.json")}  # the repro's, before the exps
    summary, verdicts = committed["evaluate/summary.json"], committed["findings/verdicts.json"]
    assert {f"{m}.{k}": v for m in ("ae", "vae", "gan", "wgan") for k, v in summary[m].items()}.items() \
        <= repro.data.metrics.items()
    counts = {k.removeprefix("verdicts."): v for k, v in repro.data.metrics.items() if k.startswith("verdicts.")}
    assert sum(counts.values()) == len(verdicts) == len(CLAIMS)
    assert counts["reproduced"] == sum(v["verdict"] == "reproduced" for v in verdicts.values())
    for name, clip in clips.items():
        parent = parents[name]
        assert parent.data.params == {"wgan.clip": clip} and parent.info.status == "FINISHED"
        nested = {r.data.tags["dvc_stage"]: r for r in children[parent.info.run_id]}
        assert set(nested) == {"train@wgan", "evaluate", "main-models", "report"}  # the findings read no main WGAN
        assert all(r.data.tags["dvc_exp_name"] == name for r in nested.values())
        note = parent.data.tags["mlflow.note.content"]
        assert "| prepare | skipped: unchanged |" in note and "| train@wgan | ran (finished) |" in note
        training = nested["train@wgan"]
        assert training.data.params["wgan.clip"] == clip
        assert {"fid", "precision", "recall", "modes"} <= training.data.metrics.keys()  # written by evaluate
    f1 = next(r for r in children[repro.info.run_id] if r.data.tags["dvc_stage"] == "experiment@f1_strong_d")
    seed_runs = sorted(r.info.run_name for r in runs if r.data.tags.get("mlflow.parentRunId") == f1.info.run_id)
    assert seed_runs == [*(f"f1_strong_d base seed {s}" for s in range(4)), "f1_strong_d output=sigmoid seed 0"]
    findings = next(r for r in children[repro.info.run_id] if r.data.tags["dvc_stage"] == "findings")
    assert {f"verdict.{claim}" for claim in CLAIMS} <= findings.data.tags.keys()


def test_report_names_the_store_relative_to_the_repo(repo):
    report = (repo / "reports" / "report.md").read_text()
    assert "mlflow.db (SQLite, in the repository" in report
    assert str(repo) not in report


def test_logged_generators_load_back_through_mlflow_and_draw_digit_sized_images(repo):
    import mlflow

    mlflow.set_tracking_uri(f"sqlite:///{repo / 'mlflow.db'}")  # (it also sets MLFLOW_TRACKING_URI: undone below)
    try:
        _load_each_generator(repo)
    finally:
        mlflow.set_tracking_uri(None)


def _load_each_generator(repo):
    import mlflow.pytorch
    import torch

    for model, latent, scorer in (("wgan", 196, "critic"), ("gan", 196, "discriminator"), ("vae", 16, None)):
        run_id = json.loads((repo / "stages" / model / "train.json").read_text())["mlflow_run_id"]
        generator = mlflow.pytorch.load_model(f"runs:/{run_id}/generator").eval()
        with torch.no_grad():
            images = generator(torch.randn(5, latent))
        assert images.shape == (5, 1, 28, 28) and -1 <= images.min() <= images.max() <= 1, model
        assert images.std() > 0, model  # not a constant
        if scorer:
            with torch.no_grad():
                assert mlflow.pytorch.load_model(f"runs:/{run_id}/{scorer}")(images).shape == (5,), model


def test_report_run_carries_a_self_contained_html_page(repo):
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=f"sqlite:///{repo / 'mlflow.db'}")
    exp = client.get_experiment_by_name("ganpipe")
    (run, *_) = client.search_runs([exp.experiment_id], filter_string="tags.stage = 'report'",
                                   order_by=["attributes.start_time DESC"])
    page = (Path(run.info.artifact_uri.removeprefix("file://")) / "report.html").read_text()
    assert page.startswith("<!doctype html>") and "<table>" in page and "## " not in page
    assert page.count('src="data:image/png;base64,') >= 10 and 'src="figures/' not in page
