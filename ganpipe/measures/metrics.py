"""Every evaluation measure, defined once (docs/design.md section 5). Plain numpy arrays in, floats out.

Feature extraction happens elsewhere: callers pass the feature classifier's penultimate-layer
features (N x D) and softmax probabilities (N x C), and images as uint8 N x 28 x 28.

- Distribution measures in feature space: FID (Heusel et al. 2017), precision/recall
  (Kynkaanniemi et al. 2019), density/coverage (Naeem et al. 2020).
- Mode coverage from the classifier's predicted-class histogram.
- Artifact measures on pixels, one per visual failure the note describes (all-black collapse,
  noise around the digit, blur, "embossed" images); each is small on real MNIST digits.
- The power spectrum in three bands: which spatial frequencies a generator gets wrong.

FID and the k-NN measures are biased by the sample size n: compare models only at equal n, and
report the real-vs-real floor at that n beside them.
"""

from __future__ import annotations

import warnings

import numpy as np
import torch
from scipy import linalg

# Pixel thresholds on the [0, 1] intensity scale, shared by the artifact measures.
INK = 0.05  # above this a pixel is ink; MNIST background is exactly 0
MIDGREY = (0.2, 0.8)  # neither background nor saturated stroke: the anti-aliased rim, or blur
BORDER = 4  # MNIST digits are size-normalised into a 20x20 box centred in 28x28: a 4-pixel margin
BLANK_MAX, BLANK_MEAN, BLANK_STD = 0.2, 0.02, 0.02


# ---------------------------------------------------------------------------------------------
# Frechet Inception Distance (here: Frechet distance of the feature classifier's features)


def gaussian_stats(features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and covariance (float64, unbiased) of N x D features: the Gaussian that FID fits."""
    f = _features(features, "features")
    if len(f) < 2:
        raise ValueError(f"features: a covariance needs at least 2 samples, got {len(f)}")
    return f.mean(axis=0), np.atleast_2d(np.cov(f, rowvar=False))


def frechet_distance(mu1: np.ndarray, sigma1: np.ndarray, mu2: np.ndarray, sigma2: np.ndarray,
                     eps: float = 1e-6) -> float:
    """Frechet (2-Wasserstein) distance between N(mu1, sigma1) and N(mu2, sigma2):

        d^2 = ||mu1 - mu2||^2 + Tr(sigma1 + sigma2 - 2 (sigma1 sigma2)^(1/2))

    FID (Heusel et al. 2017, "GANs trained by a two time-scale update rule converge to a local
    Nash equilibrium") is this distance between the Gaussians fitted to real and generated features.

    This is the algorithm of pytorch-fid's `calculate_frechet_distance` (mseitzer/pytorch-fid,
    Dougal Sutherland's stable version), the well-kept reference implementation: scipy's sqrtm,
    an eps offset on the diagonals when the product is singular, and a check that the imaginary
    part sqrtm leaves behind is numerical noise. It is restated here rather than imported because
    pytorch-fid 0.3.0 calls `sqrtm(..., disp=False)`, deprecated in SciPy 1.17 and due to be removed in
    1.18, and importing it pulls in torchvision and the Inception model code; the test suite checks
    that both give the same number.
    """
    mu1, mu2 = np.atleast_1d(np.asarray(mu1, np.float64)), np.atleast_1d(np.asarray(mu2, np.float64))
    sigma1, sigma2 = np.atleast_2d(np.asarray(sigma1, np.float64)), np.atleast_2d(np.asarray(sigma2, np.float64))
    if mu1.shape != mu2.shape or sigma1.shape != sigma2.shape or sigma1.shape != mu1.shape * 2:
        raise ValueError(f"frechet_distance: mismatched shapes mu {mu1.shape} / {mu2.shape}, "
                         f"sigma {sigma1.shape} / {sigma2.shape}")
    diff = mu1 - mu2
    # The product of two PSD matrices is not symmetric, and with fewer samples than dimensions
    # it is singular; sqrtm then may return inf/nan, which a tiny ridge on both factors fixes.
    with warnings.catch_warnings():  # pytorch-fid's disp=False: judge the result, not scipy's hint
        warnings.simplefilter("ignore", linalg.LinAlgWarning)
        covmean = linalg.sqrtm(sigma1 @ sigma2)
    if not np.isfinite(covmean).all():
        warnings.warn(f"frechet_distance: singular covariance product; adding {eps} to the diagonals",
                      RuntimeWarning, stacklevel=2)
        offset = np.eye(len(sigma1)) * eps
        covmean = linalg.sqrtm((sigma1 + offset) @ (sigma2 + offset))
    # The square root of a product of PSD matrices has real eigenvalues; an imaginary part beyond
    # rounding noise means the covariances are not PSD (NaN/inf features, or a broken estimate).
    if np.iscomplexobj(covmean):
        if not np.allclose(np.diagonal(covmean).imag, 0, atol=1e-3):
            raise ValueError(
                f"frechet_distance: sqrt(sigma1 sigma2) has an imaginary component of "
                f"{np.max(np.abs(covmean.imag)):.3g}, far beyond rounding error; the covariances are "
                "not positive semi-definite (check the features for NaN, inf or huge values)"
            )
        covmean = covmean.real
    return float(diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2 * np.trace(covmean))


def fid(features_a: np.ndarray, features_b: np.ndarray) -> float:
    """FID between two feature sets (N x D each); biased by n, so compare at equal sample sizes."""
    return frechet_distance(*gaussian_stats(features_a), *gaussian_stats(features_b))


# ---------------------------------------------------------------------------------------------
# Precision, recall, density, coverage: k-NN balls in feature space

_CHUNK = 1 << 23  # distance-matrix elements per block: 64 MB of float64, whatever n is


def _augment(x: torch.Tensor, side: str) -> torch.Tensor:
    # ||a - b||^2 = [a, |a|^2, 1] . [-2b, 1, |b|^2]: one GEMM gives squared distances directly,
    # sparing the full-matrix passes that adding the norms afterwards would cost.
    sq = (x * x).sum(1, keepdim=True)
    one = torch.ones_like(sq)
    return torch.cat([x, sq, one], 1) if side == "left" else torch.cat([-2 * x, one, sq], 1)


def _blocks(a: torch.Tensor, b: torch.Tensor):
    """Yield (row slice, squared distances of those rows of `a` to all of `b`), block by block."""
    left, right = _augment(a, "left"), _augment(b, "right").T.contiguous()
    step = max(1, _CHUNK // len(b))
    for start in range(0, len(a), step):
        rows = slice(start, start + step)
        yield rows, left[rows] @ right


def _knn_radii_sq(x: torch.Tensor, k: int) -> torch.Tensor:
    """Squared distance from each point to its k-th nearest neighbour within its own set.

    As in the prdc package, the point itself counts as the first (distance 0) neighbour: the
    radius is the (k+1)-th smallest distance in the row.
    """
    radii = torch.empty(len(x), dtype=x.dtype)
    for rows, d2 in _blocks(x, x):
        radii[rows] = torch.topk(d2, k + 1, dim=1, largest=False).values[:, -1]
    return radii.clamp_min_(0)


def prdc(real_features: np.ndarray, fake_features: np.ndarray, k: int = 5) -> dict[str, float]:
    """Precision, recall, density and coverage of fake features against real ones.

    Each sample gets a ball reaching its k-th nearest neighbour in its own set; the union of
    balls estimates a set's support (manifold).
    - precision (Kynkaanniemi et al. 2019, "Improved precision and recall metric for assessing
      generative models"): share of fakes inside the real manifold (fidelity).
    - recall (same paper): share of reals inside the fake manifold (diversity).
    - density (Naeem et al. 2020, "Reliable fidelity and diversity metrics for generative
      models"): how many real balls contain a fake, divided by k, averaged over fakes; ~1 when the
      distributions match, and unlike precision it does not saturate on outlying real samples.
    - coverage (same paper): share of reals whose ball contains at least one fake.

    Gives the same numbers as `prdc.compute_prdc` (Naeem et al.'s code) but in float64 blocks on
    torch: no N x N matrix is held, and 10k x 10k samples take seconds, not minutes.
    """
    real = torch.from_numpy(_features(real_features, "real_features"))
    fake = torch.from_numpy(_features(fake_features, "fake_features"))
    if real.shape[1] != fake.shape[1]:
        raise ValueError(f"prdc: real features have {real.shape[1]} dims, fake ones {fake.shape[1]}")
    if not 1 <= k < min(len(real), len(fake)):
        raise ValueError(f"prdc: k = {k} must be at least 1 and below both sample sizes "
                         f"({len(real)} real, {len(fake)} fake)")
    real_r2, fake_r2 = _knn_radii_sq(real, k), _knn_radii_sq(fake, k)

    in_real_balls = torch.zeros(len(fake), dtype=torch.int64)  # per fake: real balls containing it
    in_fake_manifold = torch.zeros(len(real), dtype=torch.bool)
    covered = torch.zeros(len(real), dtype=torch.bool)
    for rows, d2 in _blocks(real, fake):
        inside = d2 < real_r2[rows, None]
        in_real_balls += inside.sum(0, dtype=torch.int32)
        covered[rows] = d2.amin(1) < real_r2[rows]
        in_fake_manifold[rows] = (d2 < fake_r2[None, :]).any(1)
    return {
        "precision": float((in_real_balls > 0).double().mean()),
        "recall": float(in_fake_manifold.double().mean()),
        "density": float(in_real_balls.double().mean() / k),
        "coverage": float(covered.double().mean()),
    }


# ---------------------------------------------------------------------------------------------
# Mode coverage from the feature classifier's class probabilities


def mode_stats(probs: np.ndarray, n_classes: int = 10) -> dict[str, float]:
    """How many digit classes a generator produces, from the classifier's N x C probabilities.

    - modes: classes that receive a fair share of the predicted labels, where a fair share is at
      least half the uniform share, 1 / (2 C). Half, because a finite sample of a perfect generator
      scatters around 1/C (a class at 1/(2C) is clearly under-produced, not merely unlucky), while
      a collapsed generator leaves a class with next to nothing; counting classes with any
      prediction at all would let a few misclassified blobs count as a covered mode.
    - class_entropy: entropy in nats of the predicted-class histogram; log C when uniform, 0 when
      every sample is called the same class.
    - confidence: mean max probability; low when samples look like no digit in particular.
    - top_class_share: the share of samples called the most frequent class (1: all one digit, the
      "collapse" most readers mean; about 1/C for real digits).
    """
    p = np.asarray(probs, dtype=np.float64)
    if p.ndim != 2 or p.shape[1] != n_classes or len(p) == 0:
        raise ValueError(f"mode_stats: expected N x {n_classes} class probabilities, got shape {p.shape}")
    share = np.bincount(p.argmax(axis=1), minlength=n_classes) / len(p)
    nonzero = share[share > 0]
    return {
        "modes": float((share >= 1 / (2 * n_classes)).sum()),
        "class_entropy": float(-(nonzero * np.log(nonzero)).sum()),
        "confidence": float(p.max(axis=1).mean()),
        "top_class_share": float(share.max()),
    }


# ---------------------------------------------------------------------------------------------
# Artifact measures on pixels (uint8 N x H x W, read as intensities in [0, 1])


def brightness(images: np.ndarray) -> float:
    """Mean pixel intensity. Real MNIST ~0.13; the note's collapsed GAN (F1) emits ~0."""
    return float(_unit(images).mean())


def blank_fraction(images: np.ndarray) -> float:
    """Share of blank images: no pixel reaches 0.2, or the mean is below 0.02 (all black, F1), or
    the standard deviation is below 0.02 (a flat grey image holds no digit either). No real MNIST
    digit is blank: their faintest has max 1.0, mean 0.028, std 0.13."""
    x = _unit(images).reshape(len(images), -1)
    blank = (x.max(1) < BLANK_MAX) | (x.mean(1) < BLANK_MEAN) | (x.std(1) < BLANK_STD)
    return float(blank.mean())


def peripheral_energy(images: np.ndarray) -> float:
    """Mean intensity in the outer ring, BORDER = 4 pixels wide.

    MNIST digits are scaled into a 20 x 20 box centred in the 28 x 28 frame, so real digits leave
    the ring almost black (~0.009); a fully-connected generator's "Gaussian-like noise around the
    digit" (claim F4) lights it up.
    """
    x = _unit(images)
    ring = np.ones(x.shape[1:], dtype=bool)
    ring[BORDER:-BORDER, BORDER:-BORDER] = False
    return float(x[:, ring].mean())


def midgrey_share(images: np.ndarray) -> float:
    """Share of ink pixels (> 0.05) that are mid-grey, in (0.2, 0.8), averaged over images.

    Real MNIST strokes are nearly binary (saturated core, a one-pixel anti-aliased rim: ~0.34);
    blur (claim F4b) widens the rim into a grey ramp. Images without ink are skipped (0 if none).
    """
    x = _unit(images).reshape(len(images), -1)
    ink = x > INK
    grey = (x > MIDGREY[0]) & (x < MIDGREY[1])
    n_ink = ink.sum(1)
    has_ink = n_ink > 0
    if not has_ink.any():
        return 0.0
    return float((grey.sum(1)[has_ink] / n_ink[has_ink]).mean())


def gradient_energy(images: np.ndarray) -> float:
    """Mean squared gradient magnitude, E[dx^2 + dy^2] with forward differences: sharpness.

    Blur spreads each edge over more pixels with smaller steps, and the sum of squared steps
    falls. Noise raises it too, so read it beside peripheral_energy and midgrey_share.
    """
    x = _unit(images)
    return float((np.diff(x, axis=2) ** 2).mean() + (np.diff(x, axis=1) ** 2).mean())


def _background(x: np.ndarray) -> np.ndarray:
    # The median pixel: the background wherever background pixels are the majority. Real digits
    # cover at most ~40% of the frame (19% on average), so it is exactly 0 for all of MNIST; it
    # stays on the background grey of an embossed image as long as neither its shadows nor its
    # highlights fill half the frame.
    return np.median(x.reshape(len(x), -1), axis=1)


def background_level(images: np.ndarray) -> float:
    """Background grey: each image's median intensity, averaged. 0 on every real MNIST digit;
    WGAN samples with a large clip (claim F3b) sit on a mid-grey background."""
    return float(_background(_unit(images)).mean())


def grey_page(images: np.ndarray) -> float:
    """How grey the page is (what claim F3b's large clips draw when they draw no relief): each
    image's 25th-percentile intensity, averaged. A digit covers a fifth of the frame on average, so
    the darker quarter of a real digit's pixels is its black page (0); noise on a black page leaves
    most of that quarter near black, where the median (`background_level`) turns grey with it; a
    grey page, with or without dark rings drawn on it, keeps even its darker quarter grey."""
    x = _unit(images).reshape(len(images), -1)
    return float(np.percentile(x, 25, axis=1).mean())


def relief_score(images: np.ndarray) -> float:
    """The "embossed" look (claim F3b): how far an image departs from its background in BOTH
    directions, averaged over images.

    For each image with background b (its median), shadow = mean(max(b - x, 0)) and
    highlight = mean(max(x - b, 0)); the score is min(shadow, highlight). A relief renders a shape
    as a bright edge on one side and a dark edge on the other, so both are large. Real MNIST ink
    only adds light to a black background, so nothing is darker than b and the score is exactly 0;
    a digit drawn dark on a light page scores 0 as well (no highlight), since that is not relief.
    """
    x = _unit(images)
    b = _background(x)[:, None, None]
    shadow = np.clip(b - x, 0, None).mean(axis=(1, 2))
    highlight = np.clip(x - b, 0, None).mean(axis=(1, 2))
    return float(np.minimum(shadow, highlight).mean())


def peak_intensity(images: np.ndarray) -> np.ndarray:
    """Each image's brightest 1% (its 99th percentile intensity): what the eye reads as the image's
    ink. Robust to a few bright specks, unlike the maximum; unlike the mean it does not call a faint
    but sharp real digit (mean 0.03, peak 1.0) dark."""
    return np.quantile(_unit(images).reshape(len(images), -1), 0.99, axis=1)


def peak_brightness(images: np.ndarray) -> float:
    """Median over images of `peak_intensity`: ~1.0 on real digits, ~0 on all-black samples (F1)."""
    return float(np.median(peak_intensity(images)))


def pinned_black(images: np.ndarray) -> float:
    """Share of pixels at exactly 0: where the output layer saturated at black (a sigmoid or tanh
    driven far negative). Real MNIST's background is exactly 0 too, so compare it with the real digits'."""
    return float((_unit(images) == 0).mean())


def black_fraction(images: np.ndarray, peak_max: float) -> float:
    """Share of images whose brightest 1% stays below `peak_max` (claim F1's "all-black images").
    `peak_max` comes from the controls (ganpipe.measures.controls), not from the runs being judged."""
    return float((peak_intensity(images) < peak_max).mean())


def _core(x: np.ndarray) -> np.ndarray:
    # The digit's body: pixels above half the image's peak after a 3x3 median filter, which keeps
    # strokes (two or more pixels wide) and drops isolated specks of noise.
    from scipy import ndimage

    peak = np.quantile(x.reshape(len(x), -1), 0.99, axis=1)[:, None, None]
    return ndimage.median_filter(x, size=(1, 3, 3)) > 0.5 * np.maximum(peak, 1e-6)


FAR = 3.0  # pixels: beyond this distance from the digit's body a real digit has no ink, not even blur


def background_noise(images: np.ndarray) -> float:
    """Mean intensity of the pixels more than FAR pixels away from the digit's body, averaged over
    images (claims F4 / F4c: "noise around the digit"). Measured relative to where the digit is, so
    a shifted or thick digit, whose ink reaches the frame's border, is not called noisy (the fixed
    border ring of `peripheral_energy` failed those controls). An image with no body counts all
    its pixels."""
    from scipy import ndimage

    x = _unit(images)
    core = _core(x)
    values = []
    for img, body in zip(x, core):
        if not body.any():
            values.append(float(img.mean()))
            continue
        far = ndimage.distance_transform_edt(~body) > FAR
        values.append(float(img[far].mean()) if far.any() else 0.0)
    return float(np.mean(values))


def edge_sharpness(images: np.ndarray) -> float:
    """Gradient energy over intensity variance, E[dx^2 + dy^2] / Var(x) per image, averaged over
    images that are not flat (claim F4b: blur). Blur spreads each edge over more pixels and the
    ratio falls; a change of contrast or a grey page scales or shifts both terms alike and leaves it
    unchanged (the absolute `midgrey_share` failed those controls). Noise raises it, so noise never
    reads as blur."""
    x = _unit(images)
    var = x.reshape(len(x), -1).var(axis=1)
    grad = (np.diff(x, axis=2) ** 2).mean(axis=(1, 2)) + (np.diff(x, axis=1) ** 2).mean(axis=(1, 2))
    keep = var > 1e-6
    return float((grad[keep] / var[keep]).mean()) if keep.any() else 0.0


# Spatial-frequency bands, in cycles per pixel (0.5 is the finest a 28 x 28 grid holds along an
# axis; the corners of the spectrum reach 0.71). An MNIST stroke is 2-3 pixels wide, so a digit's
# power lies mostly in the low band; blur removes the high band first, and pixel noise, being
# white, adds to every band alike and so raises the high band's share the most.
BANDS = {"low": (0.0, 0.125), "mid": (0.125, 0.25), "high": (0.25, 1.0)}


def band_shares(images: np.ndarray) -> dict[str, float]:
    """Each band's share of the images' power: the radial power spectrum of each image (its mean
    removed, so a page's brightness is no frequency), averaged over images, summed within each band
    and divided by the total. Shares are contrast-free (scaling every image scales every band) and
    shift-free (a shift changes phases only); compare them with the real digits' shares, which put
    real digits at 1. Flat images have no power: every share 0."""
    x = _unit(images).astype(np.float64)
    x -= x.mean(axis=(1, 2), keepdims=True)
    power = (np.abs(np.fft.fft2(x)) ** 2).mean(axis=0)
    radius = np.hypot(np.fft.fftfreq(x.shape[1])[:, None], np.fft.fftfreq(x.shape[2])[None, :])
    total = float(power.sum())
    if total <= 0:
        return {band: 0.0 for band in BANDS}
    return {band: float(power[(radius > lo) & (radius <= hi)].sum() / total) for band, (lo, hi) in BANDS.items()}


def low_band(images: np.ndarray) -> float:
    """Share of the images' power below 0.125 cycles per pixel (the digit's shape)."""
    return band_shares(images)["low"]


def mid_band(images: np.ndarray) -> float:
    """Share of the images' power from 0.125 to 0.25 cycles per pixel (the strokes' edges)."""
    return band_shares(images)["mid"]


def high_band(images: np.ndarray) -> float:
    """Share of the images' power above 0.25 cycles per pixel (claims F4, F4b, F4c: what blur removes
    and pixel noise adds)."""
    return band_shares(images)["high"]


_PAIR_OFFSETS = [(dy, dx) for dy in range(-2, 3) for dx in range(-2, 3) if (dy, dx) != (0, 0)]


def emboss_score(images: np.ndarray) -> float:
    """The "embossed" look (claim F3b) as relief that comes in pairs, averaged over images.

    A relief renders each stroke as a highlight on one side and a shadow on the other, a pixel or
    two apart. Per image, with background b (its median), shadow S = max(b - x, 0) and highlight
    H = max(x - b, 0): the score is the best correlation of H with S shifted by up to 2 pixels
    (the pairing), times min(mean S, mean H) (how much relief there is). Real digits only add light
    to a black page (S = 0: score 0); a digit on a grey page or an inverted one has one side only
    (0); noise has both sides but unpaired (correlation ~0). `relief_score` alone, without the
    pairing, failed the background-noise control.
    """
    x = _unit(images)
    b = _background(x)[:, None, None]
    shadow, highlight = np.clip(b - x, 0, None), np.clip(x - b, 0, None)
    h = highlight - highlight.mean(axis=(1, 2), keepdims=True)
    h_norm = np.sqrt((h ** 2).sum(axis=(1, 2)))
    best = np.zeros(len(x))
    for dy, dx in _PAIR_OFFSETS:
        s = np.roll(shadow, (dy, dx), axis=(1, 2))
        s = s - s.mean(axis=(1, 2), keepdims=True)
        den = h_norm * np.sqrt((s ** 2).sum(axis=(1, 2)))
        corr = np.divide((h * s).sum(axis=(1, 2)), den, out=np.zeros(len(x)), where=den > 0)
        best = np.maximum(best, corr)
    amount = np.minimum(shadow.mean(axis=(1, 2)), highlight.mean(axis=(1, 2)))
    return float((best * amount).mean())


def boundary_share(weights: np.ndarray, clip: float) -> float:
    """Share of critic weights within 1% of the clip boundary, |w| >= 0.99 c (claim F3). Weights
    spread evenly over [-c, c] put 1% there."""
    w = np.asarray(weights, dtype=np.float64).ravel()
    if clip <= 0 or w.size == 0:
        raise ValueError(f"boundary_share: needs weights and a positive clip, got {w.size} weights, clip {clip}")
    return float((np.abs(w) >= 0.99 * clip).mean())


def weight_histogram(critic_state: dict, clip: float, bins: int = 41) -> dict:
    """Every clipped critic parameter (the WGAN clips weights and biases alike) over [-c, c]."""
    w = np.concatenate([v.numpy().ravel() for k, v in critic_state.items() if k.endswith(("weight", "bias"))])
    counts, edges = np.histogram(w / clip, bins=bins, range=(-1.0, 1.0))
    return {"edges": edges.tolist(), "counts": counts.tolist(), "boundary_share": boundary_share(w, clip)}


ARTIFACT_MEASURES = {f.__name__: f for f in (brightness, peak_brightness, blank_fraction, peripheral_energy,
                                               background_noise, midgrey_share, gradient_energy, edge_sharpness,
                                               background_level, grey_page, relief_score, emboss_score,
                                               pinned_black, low_band, mid_band, high_band)}


def artifact_measures(images: np.ndarray) -> dict[str, float]:
    """All pixel artifact measures of an image set, by name."""
    _unit(images)  # fail once, before any measure runs
    return {name: f(images) for name, f in ARTIFACT_MEASURES.items()}


# ---------------------------------------------------------------------------------------------


def summarize(real_features: np.ndarray, real_probs: np.ndarray, fake_features: np.ndarray,
              fake_probs: np.ndarray, fake_images: np.ndarray, k: int = 5) -> dict[str, float]:
    """Every measure of one generated set against the real reference, as JSON-ready floats.

    `real_probs` fixes the number of classes (its width) and must match `fake_probs`; the real
    set's own mode statistics come from calling this with the real set as the fake one.
    """
    real_probs, fake_probs = np.asarray(real_probs), np.asarray(fake_probs)
    if real_probs.ndim != 2 or fake_probs.ndim != 2 or real_probs.shape[1] != fake_probs.shape[1]:
        raise ValueError(f"summarize: real and fake probabilities must be N x C with the same C, got "
                         f"{real_probs.shape} and {fake_probs.shape}")
    return {
        "fid": fid(real_features, fake_features),
        **prdc(real_features, fake_features, k),
        **mode_stats(fake_probs, n_classes=real_probs.shape[1]),
        **artifact_measures(fake_images),
    }


def _features(features: np.ndarray, name: str) -> np.ndarray:
    f = np.asarray(features, dtype=np.float64)
    if f.ndim != 2 or len(f) == 0:
        raise ValueError(f"{name}: expected an N x D feature array, got shape {f.shape}")
    if not np.isfinite(f).all():
        raise ValueError(f"{name}: features contain NaN or infinite values")
    return np.ascontiguousarray(f)


def _unit(images: np.ndarray) -> np.ndarray:
    a = np.asarray(images)
    if a.dtype != np.uint8 or a.ndim != 3 or min(a.shape[1:]) <= 2 * BORDER or len(a) == 0:
        raise ValueError(f"images: expected uint8 N x 28 x 28, got {a.dtype} {a.shape} "
                         "(ganpipe.data.images.as_digit_images converts other formats)")
    return a.astype(np.float32) / 255.0
