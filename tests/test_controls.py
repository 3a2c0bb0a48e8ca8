"""Every measure a verdict reads, against its controls, before it judges any run: the artifact at
known doses must count (in dose order), inputs without it must not, and the threshold the declared
rule gives lies between them. The measures they replaced fail the same controls."""

import numpy as np
import pytest

from ganpipe.measures import controls, metrics
from ganpipe.params import ControlsParams, ParamsError, parse_params

P = ControlsParams(n=128)


@pytest.fixture(scope="module")
def result(bundled) -> dict:
    return controls.run_controls(bundled[-512:], P)


@pytest.fixture(scope="module")
def bundled():
    from ganpipe.data.mnist import load_bundled

    return load_bundled()[0]


MEASURES = ["peak_brightness", "emboss_score", "grey_page", "edge_sharpness", "background_noise", "boundary_share"]


@pytest.mark.parametrize("name", MEASURES)
def test_every_measure_separates_its_controls(result, name):
    c = result[name]
    assert c["separates"], c
    pos = [d["value"] for d in c["doses"]]
    neg = [n["value"] for n in c["negatives"]]
    if c["direction"] > 0:
        assert min(pos) > c["threshold"] > max(neg)
    else:
        assert max(pos) < c["threshold"] < min(neg)


@pytest.mark.parametrize("name,ladder", [
    ("peak_brightness", "digits x"), ("emboss_score", "emboss 0"), ("grey_page", "page grey"), ("edge_sharpness", "blur sigma"),
    ("background_noise", "background noise"), ("boundary_share", "clipped"),
])
def test_a_stronger_dose_reads_as_more_artifact(result, name, ladder):
    c = result[name]
    values = [d["value"] for d in c["doses"] if ladder in d["name"] and "+" not in d["name"] and "autoscaled" not in d["name"]]
    assert len(values) >= 4
    steps = np.diff(values) * c["direction"]
    assert (steps > 0).all(), values


def test_the_threshold_sits_where_the_declared_rule_puts_it(result):
    c = result["background_noise"]
    assert c["threshold"] == pytest.approx(c["strongest_negative"] + 0.5 * (c["weakest_dose"] - c["strongest_negative"]))
    assert controls.separation([3.0, 5.0], [1.0, 2.0], +1, 0.25)["threshold"] == pytest.approx(2.25)
    assert not controls.separation([3.0, 1.5], [1.0, 2.0], +1, 0.5)["separates"]  # a dose below a negative


def test_black_counts_every_darkened_digit_and_no_real_one(result):
    for row in result["peak_brightness"]["doses"]:
        assert row["black_fraction"] == 1.0, row
    for row in result["peak_brightness"]["negatives"]:
        assert row["black_fraction"] == 0.0, row


@pytest.mark.parametrize("name", MEASURES)
def test_the_replaced_measure_fails_the_same_controls(result, name):
    assert result[name]["replaced"]["separates"] is False


def test_the_note_display_turns_a_faint_relief_into_a_strong_one(bundled):
    x = controls.unit(bundled[:64])
    faint = controls.uint8(controls.embossed(x, 0.02))
    assert metrics.emboss_score(faint) < 0.003  # at a fixed range: a flat grey page to the eye
    assert metrics.emboss_score(controls.autoscaled(faint)) > 0.01
    shown = controls.autoscaled(faint)
    assert shown.min() == 0 and shown.max() == 255


def test_the_strip_shows_one_digit_under_every_image_control(bundled):
    strip = controls.strip(bundled[-512:], P)
    assert set(strip) == set(MEASURES[:-1])
    for items in strip.values():
        assert all(img.shape == (28, 28) and img.dtype == np.uint8 for _, img, _ in items)
        positive = [pos for _, _, pos in items]
        assert positive == sorted(positive, reverse=True) and True in positive and False in positive  # doses first


def test_a_dose_ladder_in_the_wrong_order_or_with_a_bad_dose_is_refused():
    with pytest.raises(ParamsError, match="blur_sigmas"):
        parse_params({"findings": {"controls": {"blur_sigmas": [3.0, 2.0, 1.0, 0.5]}}})
    with pytest.raises(ParamsError, match="threshold_at"):
        parse_params({"findings": {"controls": {"threshold_at": 1.5}}})
    with pytest.raises(ParamsError, match=r"findings.controls.noise_levels.0 = -0.1 is not allowed"):
        parse_params({"findings": {"controls": {"noise_levels": [-0.1, 0.1, 0.2, 0.3]}}})
    with pytest.raises(ParamsError, match="noise_levels"):
        parse_params({"findings": {"controls": {"noise_levels": [0.1, 0.2]}}})  # fewer than four doses


def test_a_grey_page_is_told_from_a_black_page_under_noise(result, bundled):
    """What F3b's large clips may draw without relief: a grey page, told apart from noise on a
    black page (which greys the median pixel, the measure this one replaced)."""
    c = result["grey_page"]
    noisiest = max(n["value"] for n in c["negatives"] if n["name"].startswith("background noise"))
    assert noisiest < c["threshold"] < min(d["value"] for d in c["doses"])
    embossed = controls.uint8(controls.embossed(controls.unit(bundled[:128]), 0.3))
    assert metrics.grey_page(embossed) > c["threshold"]  # a relief sits on a grey page as well


def test_a_reading_between_the_controls_decides_nothing(result, bundled):
    """The rule that keeps a run whose reading sits at its line from deciding a claim, on images of
    known state: a dose and a negative are decided, a dose between the controls' weakest noise and
    their strongest negative (blur sigma 3) is not, on whichever side of the line it lands."""
    from ganpipe.study.claims.claim import Claim
    from ganpipe.study.judge import clear_of_controls

    claim = Claim("F4", "noise", judge=None, section=None, lines={"noise": "background_noise"})
    x, rng = controls.unit(bundled[-512:][:P.n]), np.random.default_rng(0)
    noise = lambda images: metrics.background_noise(controls.uint8(images))  # noqa: E731
    c = result["background_noise"]
    decided = {"strong noise": noise(controls.with_background_noise(x, 0.1, rng)), "real digits": noise(x),
               "blur sigma 2": noise(controls.blurred(x, 2.0)), "the weakest dose itself": c["weakest_dose"],
               "the strongest negative itself": c["strongest_negative"]}
    for name, reading in decided.items():
        assert clear_of_controls(claim, {"noise": reading}, result)["ok"], name
    between = [noise(controls.with_background_noise(x, level, rng)) for level in (0.036, 0.044)]
    assert c["strongest_negative"] < between[0] < c["threshold"] < between[1] < c["weakest_dose"], between
    for reading in between:
        check = clear_of_controls(claim, {"noise": reading}, result)
        assert not check["ok"] and check["value"] == {"noise": reading}


def test_the_high_band_reads_real_digits_at_one_blur_below_and_noise_above(result):
    """The output heads' spectral reading (F4, F4b, F4c), on the blur and noise controls: real digits
    read 1 (the share is relative to the real digits'), every blur lowers the high band below the
    line its controls give, and more background noise raises it further above 1."""
    deficit, excess = result["high_band_deficit"], result["high_band_excess"]
    real = {n["name"]: n["value"] for n in deficit["negatives"]}
    assert real["real digits"] == pytest.approx(1.0, abs=0.1)
    assert real["digits x 0.6"] == pytest.approx(real["real digits"], abs=0.01)  # contrast-free
    assert real["shifted (4, 4)"] == pytest.approx(real["real digits"], abs=0.01)  # shift-free
    assert deficit["separates"] and all(d["value"] < deficit["threshold"] < 1 for d in deficit["doses"])
    noise = [d["value"] for d in excess["doses"]]
    assert noise[0] > 1 and (np.diff(noise) > 0).all(), noise
