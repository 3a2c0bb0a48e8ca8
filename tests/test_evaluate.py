"""The feature classifier on real MNIST, the evaluate stage and `ganpipe score` on every input format."""

import json

import numpy as np
import pytest
import torch

from conftest import cli
from ganpipe.data.images import read_idx
from ganpipe.data.mnist import prepare
from ganpipe.measures.digit_cnn import load_classifier, train_classifier
from ganpipe.measures.evaluation import Reference
from ganpipe.params import DataParams, parse_params
from ganpipe.running.files import InputError, save_torch, write_npz

KEYS = {"fid", "precision", "recall", "density", "coverage", "modes", "class_entropy", "confidence", "top_class_share",
        "brightness", "peak_brightness", "blank_fraction", "peripheral_energy", "background_noise", "midgrey_share",
        "gradient_energy", "edge_sharpness", "background_level", "grey_page", "relief_score", "emboss_score",
        "pinned_black", "low_band", "mid_band", "high_band"}


@pytest.fixture(scope="module")
def bundled():
    arrays, _ = prepare(DataParams(), seed=0)
    return arrays


def trained_classifier(bundled, path, epochs: int | None = None):
    """The default classifier config (at `epochs`, if given) trained on the bundled train split."""
    cfg = parse_params({}).classifier
    train = ~bundled["is_test"]
    net = train_classifier(bundled["images"][train], bundled["labels"][train], epochs=epochs or cfg.epochs,
                           batch_size=cfg.batch_size, lr=cfg.lr, augment=cfg.augment, seed=0)
    save_torch(path, net.state_dict())
    return path


@pytest.fixture(scope="module")
def classifier_file(bundled, tmp_path_factory):
    """A classifier for the tests that read what the scores are, not how accurate the classifier is:
    the default config at 2 of its epochs (a quarter of the training; the accuracy test below trains
    the full config)."""
    return trained_classifier(bundled, tmp_path_factory.mktemp("clf") / "classifier.pt", epochs=2)


def test_classifier_beats_98_5_percent_on_real_t10k(t10k, bundled, tmp_path):
    clf = load_classifier(trained_classifier(bundled, tmp_path / "classifier.pt"))
    images = read_idx(t10k / "t10k-images-idx3-ubyte.gz")
    labels = read_idx(t10k / "t10k-labels-idx1-ubyte.gz")
    assert clf.accuracy(images, labels) > 0.985


def test_real_floor_is_low_and_noise_is_far_above(classifier_file, bundled):
    clf = load_classifier(classifier_file)
    test = bundled["images"][bundled["is_test"]]
    train = bundled["images"][~bundled["is_test"]][: len(test)]
    ref = Reference(clf, test)
    floor = ref.score(train)
    assert set(floor) == KEYS
    rng = np.random.default_rng(0)
    noisy = np.clip(train + rng.normal(0, 60, train.shape), 0, 255).astype(np.uint8)
    noise = ref.score(noisy)
    pure_noise = ref.score(rng.integers(0, 256, train.shape, dtype=np.uint8))
    assert floor["fid"] < 0.5 * noise["fid"] and noise["fid"] < pure_noise["fid"]
    assert floor["precision"] > 0.7 and floor["modes"] == 10
    assert floor["confidence"] > noise["confidence"]


def test_reference_refuses_unequal_n(classifier_file, bundled):
    ref = Reference(load_classifier(classifier_file), bundled["images"][:100])
    with pytest.raises(ValueError, match="equal n"):
        ref.score(bundled["images"][:90])


def test_not_a_classifier_is_refused(tmp_path):
    path = tmp_path / "other.pt"
    save_torch(path, {"weight": torch.zeros(3)})
    with pytest.raises(InputError, match="not a ganpipe feature classifier"):
        load_classifier(path)


def test_evaluate_stage_writes_every_model_and_the_floor(tmp_path, params_file, classifier_file, bundled):
    path = params_file({"evaluate": {"n_samples": 200}})
    write_npz(tmp_path / "mnist.npz", **bundled)
    stages = tmp_path / "stages"
    rng = np.random.default_rng(1)
    for model in ("ae", "vae", "gan", "wgan"):  # stand-ins: real digits, noisier for each model
        images = bundled["images"][:300].astype(float) + rng.normal(0, 20, (300, 28, 28))
        write_npz(stages / model / "samples.npz", images=np.clip(images, 0, 255).astype(np.uint8))
    r = cli("evaluate", "--params", str(path), "--out", str(tmp_path / "eval"), "--data", str(tmp_path / "mnist.npz"),
            "--classifier", str(classifier_file), "--stages", str(stages))
    assert r.returncode == 0, r.stderr
    metrics = json.loads((tmp_path / "eval" / "metrics.json").read_text())
    assert metrics["n"] == 200
    for model in ("real", "ae", "vae", "gan", "wgan"):
        assert KEYS <= set(metrics[model])
    assert metrics["real"]["fid"] < metrics["gan"]["fid"]
    assert "accuracy" in metrics["real"]


def test_evaluate_names_a_missing_samples_file(tmp_path, params_file, classifier_file, bundled):
    write_npz(tmp_path / "mnist.npz", **bundled)
    r = cli("evaluate", "--params", str(params_file()), "--out", str(tmp_path / "eval"),
            "--data", str(tmp_path / "mnist.npz"), "--classifier", str(classifier_file), "--stages", str(tmp_path / "none"))
    assert r.returncode == 1 and "samples.npz: file not found" in r.stderr
    assert not (tmp_path / "eval" / "metrics.json").exists()


def test_score_reads_npz_png_folder_and_idx(tmp_path, classifier_file, bundled, t10k):
    from PIL import Image

    images, labels = bundled["images"][:120], bundled["labels"][:120]
    write_npz(tmp_path / "s.npz", images=images, labels=labels)
    pngs = tmp_path / "pngs"
    pngs.mkdir()
    for i, im in enumerate(images):
        Image.fromarray(im).save(pngs / f"{i:04d}.png")
    idx = t10k / "t10k-images-idx3-ubyte.gz"
    outs = {}
    for name, samples in (("npz", tmp_path / "s.npz"), ("png", pngs), ("idx", idx)):
        r = cli("score", str(samples), str(tmp_path / "s.npz"), "--classifier", str(classifier_file))
        assert r.returncode == 0, r.stderr
        outs[name] = json.loads(r.stdout)
    assert outs["npz"]["fid"] == pytest.approx(outs["png"]["fid"]) and outs["npz"]["fid"] < 1e-6
    assert outs["npz"]["accuracy"] > 0.9 and "accuracy" not in outs["png"]
    assert outs["idx"]["n"] == 120 and outs["idx"]["accuracy"] > 0.9  # labels read from the IDX file beside it


@pytest.mark.parametrize("bad,message", [
    ("wrong_size_png", "expected 28x28 grey"),
    ("garbage_npz", "not a readable .npz"),
    ("no_images_key", "missing array(s) ['images']"),
    ("wrong_shape", "expected 28x28 grey images"),
])
def test_score_rejects_bad_input_naming_the_file(tmp_path, classifier_file, bundled, bad, message):
    from PIL import Image

    target = tmp_path / bad
    if bad == "wrong_size_png":
        target.mkdir()
        Image.fromarray(np.zeros((32, 32), np.uint8)).save(target / "a.png")
    elif bad == "garbage_npz":
        target = tmp_path / "garbage.npz"
        target.write_bytes(b"PK\x03\x04 not really a zip")
    elif bad == "no_images_key":
        target = tmp_path / "x.npz"
        np.savez(target, pictures=bundled["images"][:10])
    else:
        target = tmp_path / "y.npz"
        np.savez(target, images=np.zeros((10, 32, 32), np.uint8))
    write_npz(tmp_path / "ref.npz", images=bundled["images"][:50])
    r = cli("score", str(target), str(tmp_path / "ref.npz"), "--classifier", str(classifier_file))
    assert r.returncode == 1
    assert message in r.stderr and str(target.name) in r.stderr and "Traceback" not in r.stderr


def test_score_against_a_prepared_file_compares_with_its_test_split(tmp_path, classifier_file, bundled):
    """A prepared mnist.npz as the reference means its test digits: scoring those very digits gives
    FID 0, while its first images (training digits) would not."""
    write_npz(tmp_path / "mnist.npz", **bundled)
    test = bundled["images"][bundled["is_test"]]
    write_npz(tmp_path / "test.npz", images=test)
    write_npz(tmp_path / "train.npz", images=bundled["images"][~bundled["is_test"]][: len(test)])
    fid = {}
    for name in ("test", "train"):
        r = cli("score", str(tmp_path / f"{name}.npz"), str(tmp_path / "mnist.npz"), "--classifier",
                str(classifier_file))
        assert r.returncode == 0, r.stderr
        fid[name] = json.loads(r.stdout)["fid"]
    assert fid["test"] < 1e-6 < fid["train"]
