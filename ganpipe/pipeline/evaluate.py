"""Stage evaluate: every model's samples against the real test split at equal n, plus the
real-vs-real floor (train digits against test digits at the same n), into
stages/evaluate/metrics.json: {"n": ..., "real": {...}, "ae": {...}, "vae": ..., "gan": ..., "wgan": ...}
(every measure), and summary.json, the headline numbers DVC shows as metrics (`dvc exp show`).
Each model's headline numbers also go onto its training run in MLflow, beside its params.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np

from ganpipe.data.mnist import load_split
from ganpipe.measures.digit_cnn import load_classifier
from ganpipe.measures.evaluation import Reference, equal_n
from ganpipe.params import Params
from ganpipe.running.files import InputError, load_npz, write_json
from ganpipe.running.tracking import stage_run

MODELS = ("ae", "vae", "gan", "wgan")
# what `dvc exp show` and the MLflow runs table put beside the knobs; metrics.json keeps the rest
HEADLINE = ("fid", "precision", "recall", "modes")
ON_TRAINING_RUN = ("fid", "precision", "recall", "density", "coverage", "modes")


def evaluate_models(params: Params, out: Path, data_path: Path, classifier_path: Path,
                    stages: Path = Path("stages")) -> dict:
    with stage_run("evaluate", params, groups=("evaluate",)) as run:
        began = time.perf_counter()
        clf = load_classifier(classifier_path)
        train, test = load_split(data_path, "train"), load_split(data_path, "test")
        samples = {m: load_npz(stages / m / "samples.npz", required=("images",))["images"] for m in MODELS}
        n = equal_n(params.evaluate.n_samples, len(test.images), len(train.images), *(len(s) for s in samples.values()))
        reference = Reference(clf, test.images[:n], k=params.evaluate.k)

        result: dict = {"n": n}
        # the floor: how far real digits are from real digits at this n (FID > 0 from sampling alone)
        rng = np.random.default_rng(params.seed)
        pick = np.sort(rng.choice(len(train.images), size=n, replace=False))
        result["real"] = reference.score(train.images[pick], train.labels[pick])
        for model, images in samples.items():
            result[model] = reference.score(images[:n])
        write_json(out / "metrics.json", _rounded(result))
        summary = _rounded({m: {k: result[m][k] for k in HEADLINE} for m in ("real", *MODELS)})
        write_json(out / "summary.json", summary)
        # wall time apart from metrics.json, which must be identical for identical params
        write_json(out / "timing.json", {"seconds": round(time.perf_counter() - began, 2), "n": n})
        for model in ("real", *MODELS):
            run.log_metrics({f"{model}.{k}": v for k, v in result[model].items()}, 0)
        run.log_to_pipeline({f"{m}.{k}": v for m, scores in summary.items() if m != "real" for k, v in scores.items()})
        run.log_artifact(out / "metrics.json")
        for model in MODELS:
            training_run = _training_run(stages / model / "train.json")
            if training_run:
                run.log_metrics_to(training_run, {k: result[model][k] for k in ON_TRAINING_RUN})
    return result


def _training_run(train_json: Path) -> str | None:
    """The MLflow run that trained a model, as its training stage recorded it; None for samples
    that no training stage wrote (`ganpipe evaluate --stages` on a folder of your own)."""
    if not train_json.exists():
        return None
    try:
        return json.loads(train_json.read_text())["mlflow_run_id"]
    except (OSError, json.JSONDecodeError, KeyError) as exc:
        raise InputError(f"{train_json}: no training run recorded ({type(exc).__name__}: {exc}); "
                         "run the model's training stage again (dvc repro train@MODEL)") from None


def _rounded(obj):
    """6 significant digits: metrics.json stays readable in `dvc metrics diff`."""
    if isinstance(obj, dict):
        return {k: _rounded(v) for k, v in obj.items()}
    if isinstance(obj, float):
        return float(f"{obj:.6g}")
    return obj
