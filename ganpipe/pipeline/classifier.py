"""Stage train-classifier: the feature CNN for every measure, saved to stages/classifier/."""

from __future__ import annotations

from pathlib import Path

from ganpipe.data.mnist import load_split
from ganpipe.params import Params
from ganpipe.running.files import save_torch, write_json
from ganpipe.running.runtime import setup_torch
from ganpipe.running.tracking import stage_run


def train_feature_classifier(params: Params, out: Path, data_path: Path) -> dict:
    import time

    from ganpipe.measures.digit_cnn import FeatureClassifier, train_classifier

    setup_torch(params.seed, "cpu")
    cfg = params.classifier
    train, test = load_split(data_path, "train"), load_split(data_path, "test")
    with stage_run("train-classifier", params, groups=("classifier",)) as run:
        began = time.perf_counter()
        net = train_classifier(train.images, train.labels, epochs=cfg.epochs, batch_size=cfg.batch_size, lr=cfg.lr,
                               augment=cfg.augment, seed=params.seed,
                               on_epoch=lambda epoch, loss: run.log_metrics({"train_loss": loss}, epoch))
        seconds = time.perf_counter() - began
        clf = FeatureClassifier(net)
        metrics = {"test_accuracy": clf.accuracy(test.images, test.labels), "n_test": int(len(test.labels)),
                   "seconds": round(seconds, 2)}
        save_torch(out / "classifier.pt", net.state_dict())
        write_json(out / "metrics.json", metrics)
        run.log_metrics({"test_accuracy": metrics["test_accuracy"]}, cfg.epochs)
    return metrics
