"""From per-seed checks and validity checks to a verdict, on hand-made records (no training)."""

import pytest

from ganpipe.params import ValidityParams
from ganpipe.report import tables
from ganpipe.study import verdicts
from ganpipe.study.claims import f1_collapse, f3_pileup, f3b_emboss, f4c_smooth

V = ValidityParams()


def record(*checks: bool) -> dict:
    return {"observed": {"x": 1.0}, "checks": {f"c{i}": c for i, c in enumerate(checks)}}


def ok(value=1.0) -> dict:
    return {"fine": verdicts.check(value, "anything", True)}


@pytest.mark.parametrize("holds,valid,state,k_n", [
    ([True, True, True], True, "reproduced", "3/3"),
    ([True, False, True], True, "mixed", "2/3"),
    ([False, False, False], True, "not reproduced", "0/3"),
    ([True, True, True], False, "inconclusive", "3/3"),
    ([False, False, False], False, "inconclusive", "0/3"),
    ([True], True, "reproduced", "1/1"),
])
def test_seed_counts_give_the_state(holds, valid, state, k_n):
    assert verdicts.state(holds, valid) == state
    assert verdicts.holds_in(holds) == k_n


@pytest.mark.parametrize("k_n,lo,hi", [
    ("81/263", 0.2553, 0.3662),  # Newcombe (1998), Statistics in Medicine 17:857, table I, method 3
    ("15/148", 0.0624, 0.1605),  # ibid.
    ("0/20", 0.0, 0.1611),       # ibid.
    ("1/29", 0.0061, 0.1718),    # ibid.
])
def test_the_share_interval_is_wilsons_with_known_values(k_n, lo, hi):
    got = tables.share_interval(k_n)
    assert got == pytest.approx((lo, hi), abs=1e-4)


def test_few_seeds_leave_a_wide_share_and_more_seeds_narrow_it():
    assert tables.with_spread("3/3") == "3/3 (44-100%)"  # all three seeds: still only 'at least 44%'
    assert tables.with_spread("1/3") == "1/3 (6-79%)"
    lo3, hi3 = tables.share_interval("1/3")
    lo12, hi12 = tables.share_interval("4/12")
    assert hi12 - lo12 < hi3 - lo3
    with pytest.raises(ValueError, match="k/n"):
        tables.share_interval("4/3")


def test_a_seed_holds_only_when_all_its_checks_do():
    recs = {0: record(True, True), 1: record(True, False), 2: record(False, False)}
    out = verdicts.judge_seeds(recs, {s: ok() for s in recs})
    assert [out["seeds"][s]["holds"] for s in ("0", "1", "2")] == [True, False, False]
    assert out["holds_in"] == "1/3" and out["verdict"] == "mixed"


def test_one_failed_validity_check_at_one_seed_makes_the_claim_inconclusive():
    recs = {0: record(True), 1: record(True), 2: record(True)}
    validity = {0: ok(), 1: ok(), 2: {"fine": verdicts.check(0.2, "at least 0.9", False)}}
    out = verdicts.judge_seeds(recs, validity)
    assert out["verdict"] == "inconclusive" and out["holds_in"] == "3/3"
    assert out["validity"]["fine"] == {"value": {"0": 1.0, "1": 1.0, "2": 0.2}, "required": "anything", "ok": False}


def bad() -> dict:
    return {"fine": verdicts.check(0.6, "at most 0.14", False)}


def test_at_more_seeds_an_invalid_seed_is_left_out_not_a_reason_for_no_verdict():
    # six seeds, one whose run failed validity: judged on the five valid ones (at least three needed)
    recs = {0: record(False), 1: record(True), 2: record(True), 3: record(False), 4: record(False), 5: record(True)}
    validity = {s: ok() for s in recs} | {5: bad()}
    out = verdicts.judge_seeds(recs, validity, {"black": ("c0",)}, min_valid=3)
    assert out["verdict"] == "mixed" and out["holds_in"] == "2/5" and out["invalid_seeds"] == ["5"]
    assert out["parts"]["black"]["held_at"] == ["1", "2"] and out["parts"]["black"]["holds_in"] == "2/5"
    assert out["validity"]["fine"]["ok"] is False  # the failure stays on record
    # four invalid of six leave two: too few to judge, so no verdict; the outcomes over every seed
    four = validity | {0: bad(), 1: bad(), 2: bad()}
    none = verdicts.judge_seeds(recs, four, min_valid=3)
    assert none["verdict"] == "inconclusive" and none["holds_in"] == "3/6"


def test_at_the_declared_seeds_every_seed_must_still_be_valid():
    recs = {0: record(True), 1: record(True), 2: record(True)}
    out = verdicts.judge_seeds(recs, {0: ok(), 1: ok(), 2: bad()}, min_valid=3)
    assert out["verdict"] == "inconclusive"


def test_a_left_out_seed_is_said_in_words():
    cond = {"name": "base", "n_seeds": 6, "verdict": "mixed", "holds_in": "2/5", "invalid_seeds": ["5"],
            "validity": {"g_loss_levelled": {"ok": False}}}
    text = verdicts.in_words({"conditions": [cond], "verdict": "mixed", "holds_in": "2/5", "validity": {}}, 3)
    assert "seed 5 not counted, its run failing a validity check (g_loss_levelled)" in text


def test_spread_over_seeds():
    seeds = {"0": {"observed": {"a": 1.0, "b": "x"}}, "1": {"observed": {"a": 3.0, "b": "y"}}}
    assert verdicts.spread(seeds, "a") == {"mean": 2.0, "min": 1.0, "max": 3.0}
    assert verdicts.spread(seeds, "b") is None


def test_a_condition_scanned_at_one_seed_is_a_lead_not_a_verdict():
    conds = [{"name": "base", "n_seeds": 3, "verdict": "not reproduced"},
             {"name": "output=tanh", "n_seeds": 1, "verdict": "reproduced"},
             {"name": "d_pretrain=500", "n_seeds": 1, "verdict": "inconclusive"}]
    text = verdicts.map_summary(conds, 3)
    assert text.startswith("not reproduced under any of the 1 valid condition(s) run at every seed")
    assert "tanh output at the scan seed(s) only" in text and "inconclusive: D pretrained 500 steps" in text
    assert text.endswith("(3 conditions tried)")
    conds[1]["n_seeds"] = 3
    assert verdicts.map_summary(conds, 3).startswith("reproduced under tanh output (at every seed)")


def cond(name, n, verdict, holds="0/1", valid=True) -> dict:
    return {"name": name, "n_seeds": n, "verdict": verdict, "holds_in": holds,
            "validity": {"trained": {"ok": valid}}}


@pytest.mark.parametrize("table,verdict,holds,by", [
    # the note's setting reproduced at every seed: the base sweep that could not test it does not overrule it
    ([cond("base", 3, "inconclusive", "3/3", False), cond("critic_norm=batch", 3, "reproduced", "3/3")],
     "reproduced", "3/3", ["critic_norm=batch"]),
    # reproduced under one testable condition, not under another: reproduced, under the one
    ([cond("base", 3, "not reproduced", "0/3"), cond("output=tanh", 3, "reproduced", "3/3")],
     "reproduced", "3/3", ["output=tanh"]),
    # symmetric: not reproduced under every testable condition; the untestable one is listed, not counted
    ([cond("base", 3, "not reproduced", "0/3"), cond("lr=5e-05", 3, "inconclusive", "2/3", False),
      cond("output=tanh", 3, "not reproduced", "0/3")], "not reproduced", "0/3", ["base", "output=tanh"]),
    # held at some seeds somewhere, at every seed nowhere
    ([cond("base", 3, "mixed", "1/3"), cond("output=tanh", 3, "mixed", "2/3"), cond("x=1", 3, "not reproduced", "0/3")],
     "mixed", "2/3", ["base", "output=tanh"]),
    # a lead at one seed decides nothing; nothing testable: inconclusive
    ([cond("base", 3, "inconclusive", "1/3", False), cond("output=tanh", 1, "reproduced", "1/1")],
     "inconclusive", "1/3", []),
])
def test_the_headline_comes_from_the_conditions_that_could_test_the_claim(table, verdict, holds, by):
    assert verdicts.headline(table, 3) == {"verdict": verdict, "holds_in": holds, "decided_by": by}


def test_parts_of_a_claim_are_judged_apart():
    recs = {0: record(True, True, False), 1: record(True, True, True), 2: record(True, False, False)}
    out = verdicts.judge_seeds(recs, {s: ok() for s in recs}, {"wins": ("c0", "c1"), "black": ("c2",)})
    assert out["verdict"] == "mixed" and out["holds_in"] == "1/3"
    assert out["parts"]["wins"] == {"checks": ["c0", "c1"], "holds_in": "2/3", "verdict": "mixed", "held_at": ["0", "1"]}
    assert out["parts"]["black"]["held_at"] == ["1"] and out["parts"]["black"]["verdict"] == "mixed"


def test_a_claim_in_words_names_where_it_held_and_never_calls_a_lead_a_verdict():
    bad = False
    f = {"conditions": [cond("base", 3, "not reproduced", "0/3"), cond("output=tanh", 1, "reproduced", "1/1"),
                        cond("lr=5e-05", 1, "inconclusive", valid=bad)]}
    assert verdicts.in_words(f, 3) == ("not reproduced under any of the 3 conditions tried (1 with valid runs at "
                                       "every seed); it held under tanh output at the one seed scanned, still to "
                                       "confirm at every seed")
    f["conditions"][1]["n_seeds"], f["conditions"][1]["holds_in"] = 3, "3/3"
    assert verdicts.in_words(f, 3) == ("reproduced at every seed under tanh output, of the 3 conditions tried; "
                                       "not at every seed under its own setting (0/3 seeds)")
    f = {"verdict": "inconclusive", "holds_in": "2/3", "validity": {"late_window": {"ok": False}, "trained": {"ok": True}}}
    assert verdicts.in_words(f, 3) == ("could not be tested: none of the 1 condition tried gave valid runs at every "
                                       "seed (failed: late_window); under its own setting it showed at 2/3 seeds, but "
                                       "in runs that failed a validity check (late_window), which do not count")
    f["holds_in"] = "0/3"
    assert verdicts.in_words(f, 3).endswith("(failed: late_window)")
    f = {"verdict": "mixed", "holds_in": "1/3", "validity": {},
         "parts": {"D wins": {"verdict": "reproduced", "holds_in": "3/3", "held_at": ["0", "1", "2"]},
                   "black": {"verdict": "mixed", "holds_in": "1/3", "held_at": ["1"]}}}
    assert verdicts.in_words(f, 3) == ("held at some seeds only, under its own setting (1/3 seeds), of the 1 condition "
                                       "tried; D wins: reproduced (3/3: seeds 0, 1, 2); black: mixed (1/3: seed 1)")
    f["verdict"] = f["parts"]["black"]["verdict"] = "inconclusive"
    f["validity"] = {"g_loss_levelled": {"ok": False}}
    words = verdicts.in_words(f, 3).split("; ")
    assert words[0].startswith("could not be tested") and words[-1].startswith("under its own setting it showed")
    assert words[-3:-1] == ["D wins: reproduced (3/3: seeds 0, 1, 2)", "black: at seed 1 (1/3), in runs that do not count"]


class Always:
    """A trained rule that passes every run."""

    def trained(self, steps, fids):
        return verdicts.check(0.0, "trained", True)

    def levelled(self, steps, values, what):
        return verdicts.check(0.0, "levelled", True)


always = Always()


def test_a_paper_clip_that_never_binds_makes_the_pileup_inconclusive():
    ev = {"boundary_share_by_clip": {"0.01": 0.0, "0.1": 0.0, "1.0": 0.0}, "paper_clip": "0.01", "largest_clip": "1.0",
          "fid_curves": {"0.01": [60.0, 55.0, 56.0]}, "fid_steps": [1, 2, 3], "boundary_share": 0.0}
    val = f3_pileup.validity(ev, V, always)
    assert not val["clip_binds"]["ok"]
    ev["boundary_share_by_clip"]["0.01"] = 0.3
    assert f3_pileup.validity(ev, V, always)["clip_binds"]["ok"]


def test_a_large_clip_that_does_not_bind_is_the_condition_under_test_not_a_failure():
    ev = {"boundary_share_by_clip": {"0.01": 0.4, "1.0": 0.0}, "wasserstein_by_clip": {"0.01": 0.02, "1.0": 0.15},
          "paper_clip": "0.01", "largest_clip": "1.0", "fid_curves": {"0.01": [1.0], "1.0": [1.0]}, "fid_steps": [1]}
    assert f3b_emboss.clips_differ(ev, V)["ok"]
    ev["boundary_share_by_clip"] = {"0.01": 0.4, "1.0": 0.5}  # the large clip binds harder ...
    assert not f3b_emboss.clips_differ(ev, V)["ok"]  # ... and the critic is barely larger: no difference to judge
    ev["wasserstein_by_clip"] = {"0.01": 0.02, "1.0": 1500.0}  # both bind, the critic's scale follows the clip
    assert f3b_emboss.clips_differ(ev, V)["ok"]
    ev["wasserstein_by_clip"] = {"0.01": 0.02, "1.0": 1.9}  # 95x for a 100x clip: not enough
    assert not f3b_emboss.clips_differ(ev, V)["ok"]


def test_what_a_clip_draws_reads_relief_first_then_the_page_and_never_calls_a_clean_page_black():
    t = {"emboss_score": 0.006, "grey_page": 0.157}
    assert f3b_emboss.look(0.01, 0.4, t) == "embossed"  # relief wins even on a grey page
    assert f3b_emboss.look(0.0, 0.3, t) == "grey page, no relief"
    assert f3b_emboss.look(0.0, 0.0, t) == "no relief, no grey page"  # what real digits draw


def _sweep_run(emboss_large: list, grey_large: list, emboss_paper: list) -> dict:
    # step 0 (the untrained generator's grey page, at every clip) is not what a clip did: left out
    return {"largest_clip": "1.0", "paper_clip": "0.01", "snapshot_steps": [0, 100, 200, 300, 400],
            "emboss_curves": {"0.01": [0.0, *emboss_paper], "1.0": [0.0, *emboss_large]},
            "grey_curves": {"0.01": [0.5, 0.0, 0.0, 0.0, 0.0], "1.0": [0.5, *grey_large]},
            "emboss_at_largest_clip": emboss_large[-1], "emboss_score": {"0.01": emboss_paper[-1], "1.0": emboss_large[-1]}}


def test_emboss_is_judged_over_the_whole_run_in_parts_with_the_end_beside_them():
    t = {"emboss_score": 0.006, "grey_page": 0.157}
    # relief for two snapshots mid-run, a grey page before and after, the paper's clip relief once
    rec = f3b_emboss.judge(_sweep_run([0.0, 0.02, 0.02, 0.0], [0.3, 0.0, 0.0, 0.3], [0.0, 0.01, 0.0, 0.0]), t)
    assert rec["observed"]["relief_steps"] == {"0.01": [200], "1.0": [200, 300]}
    assert rec["observed"]["grey_page_steps"]["1.0"] == [100, 400]
    assert rec["observed"]["snapshots"] == 4
    assert rec["observed"]["ruined_snapshots"] == {"0.01": 1, "1.0": 4}
    checks = rec["checks"]
    assert all(checks[k] for k in (*f3b_emboss.PARTS["a large clip ruins the samples"],
                                   *f3b_emboss.PARTS["the ruin looks embossed"]))
    assert not any(checks[k] for k in f3b_emboss.PARTS["embossed at the end of the run"])  # a phase, not the end
    assert rec["verdict"] == "not reproduced"
    # as much relief at the paper's clip: the relief is not the large clip's doing
    rec = f3b_emboss.judge(_sweep_run([0.0, 0.02, 0.02, 0.0], [0.0] * 4, [0.02, 0.02, 0.0, 0.0]), t)
    assert rec["checks"]["relief_at_large_clip"] and not rec["checks"]["relief_longer_than_at_paper_clip"]
    assert not rec["checks"]["ruined_longer_than_at_paper_clip"]


def test_the_offset_response_over_training_is_a_share_of_each_rows_wasserstein_estimate():
    import numpy as np

    history = {"step": np.array([25.0, 50.0, 75.0]), "critic_offset_drop": np.array([1.0, -1.0, 3.0]),
               "wasserstein": np.array([2.0, -4.0, 1.0])}
    assert f3b_emboss.offset_curve(history, window=1) == {"step": [25, 50, 75], "share": [0.5, -0.25, 3.0], "median": 0.5}
    # a row whose estimate crosses zero is read against the size of its neighbours'
    history["wasserstein"] = np.array([2.0, 0.0, 2.0])
    assert f3b_emboss.offset_curve(history, window=3)["share"] == [1.0, -0.5, 3.0]


def _brief_condition(name: str, norm: str | None, offset_median: float) -> dict:
    observed = {"largest_clip": "1.0", "paper_clip": "0.01", "snapshots": 4,
                "relief_steps": {"1.0": [200], "0.01": []}, "grey_page_steps": {"1.0": [100, 300], "0.01": []},
                "ruined_snapshots": {"1.0": 3, "0.01": 0}, "offset_curves": {"1.0": {"median": offset_median}}}
    return {"name": name, "condition": {"critic_norm": norm} if norm else {}, "seeds": {"0": {"observed": observed}}}


def test_f3b_in_brief_says_what_each_setting_drew_and_whether_the_offset_response_parts_them():
    brief = f3b_emboss.in_brief({"conditions": [_brief_condition("base", None, 5.0),
                                                _brief_condition("note_conv5", "batch", 0.1)]})[0]
    assert "ruined 3 of 4 snapshots at seeds 0 against 0 at the paper's 0.01, mostly grey pages between steps 100 " \
           "and 300" in brief
    assert "conv5 generator (batch-norm critic)" in brief
    assert "Every batch-norm critic answered a page-wide offset less" in brief
    # the same words are not said when the numbers do not bear them out
    brief = f3b_emboss.in_brief({"conditions": [_brief_condition("base", None, 0.05),
                                                _brief_condition("note_conv5", "batch", 0.1)]})[0]
    assert "does not set the batch-norm critics apart" in brief


def test_a_ruined_arm_is_not_asked_to_settle_but_to_be_watched():
    ev = {"boundary_share_by_clip": {"0.01": 0.4, "1.0": 0.0}, "wasserstein_by_clip": {"0.01": 0.02, "1.0": 0.15},
          "paper_clip": "0.01", "largest_clip": "1.0", "fid_curves": {"0.01": [1.0], "1.0": [400.0, 90.0, 300.0]},
          "fid_steps": [1], "snapshot_steps": list(range(10))}
    val = f3b_emboss.validity(ev, V, always)
    assert set(val) == {"clips_differ", "trained_at_paper_clip", "watched_throughout"}
    assert val["watched_throughout"]["ok"]
    ev["snapshot_steps"] = list(range(V.phase_snapshots_min - 1))
    assert not f3b_emboss.validity(ev, V, always)["watched_throughout"]["ok"]


def test_a_weak_discriminator_cannot_test_the_collapse():
    ev = {"late_d_acc_fake": 0.6, "fid_steps": [1], "fid_curve": [1.0], "g_loss_steps": [1], "g_loss_curve": [1.0]}
    assert not f1_collapse.validity(ev, V, always)["d_in_control"]["ok"]
    assert f1_collapse.validity({**ev, "late_d_acc_fake": 0.99}, V, always)["d_in_control"]["ok"]


def test_heads_compared_at_unequal_steps_are_not_a_comparison():
    curves = {h: [40.0, 41.0, 40.5] for h in ("fc", "conv3", "conv5")}
    ev = {"fid_curves": curves, "fid_steps": [1, 2, 3], "head_steps": {"fc": 3000, "conv3": 3000, "conv5": 1500}}
    val = f4c_smooth.CLAIM.validity(ev, V, always)
    assert not val["equal_steps"]["ok"] and val["trained_conv5"]["ok"]


def test_a_condition_that_switches_the_model_reads_once_as_under_the_wgan():
    f = {"conditions": [cond("base", 3, "not reproduced", "0/3"), cond("lr=0.0002+model=wgan", 3, "mixed", "1/3")]}
    words = verdicts.in_words(f, 3)
    assert words == "held at some seeds only, under the WGAN, lr 0.0002 (1/3 seeds), of the 2 conditions tried"
    assert "under under" not in words


def test_a_condition_that_switches_the_model_is_said_under_it_once():
    conds = [{"name": "base", "n_seeds": 3, "verdict": "not reproduced"},
             {"name": "image_size=56+lr=0.0002+model=wgan", "n_seeds": 1, "verdict": "not reproduced"},
             {"name": "critic=conv+critic_norm=batch", "n_seeds": 1, "verdict": "reproduced"}]
    text = verdicts.map_summary(conds, 3)
    assert "did not hold at the scan seed(s) under the WGAN, 56 px, lr 0.0002" in text
    assert "held under batch-norm conv critic at the scan seed(s) only" in text
    assert "under under" not in text


def test_every_check_of_a_seeded_claim_has_plain_words():
    from ganpipe.study.claims import CLAIMS, SEEDED

    for claim in SEEDED:
        record = CLAIMS[claim]
        assert record.said, claim
        assert all(words and "_" not in words for words in record.said.values()), record.said


def test_the_why_column_says_the_checks_in_words():
    from ganpipe.study.verdicts import why as _why

    f = {"verdict": "mixed", "validity": {}, "decided_by": ["base"],
         "checks": {"d_loss_collapsed": "3/3", "samples_black": "1/3"},
         "said": {"d_loss_collapsed": "D's loss collapsed", "samples_black": "the samples went black"}}
    assert _why(f) == "the samples went black at 1 of 3 seeds"
    f |= {"verdict": "not reproduced", "checks": {"d_loss_collapsed": "3/3", "samples_black": "0/3"}}
    assert _why(f) == "the samples went black at 0 of 3 seeds (while D's loss collapsed at 3 of 3 seeds)"
    f |= {"verdict": "mixed", "decided_by": ["model=wgan"], "conditions": [{"name": "model=wgan", "label": "under the WGAN"}]}
    assert _why(f) == "held at some seeds under the WGAN"
    # decided elsewhere, not reproduced: the reason is that condition's checks at its valid seeds,
    # not the own setting's (which held there, in runs that did not count)
    seeds = {"0": {"valid": True, "checks": {"d_loss_collapsed": True, "samples_black": False}},
             "1": {"valid": True, "checks": {"d_loss_collapsed": True, "samples_black": False}},
             "2": {"valid": False, "checks": {"d_loss_collapsed": True, "samples_black": True}}}
    f |= {"verdict": "not reproduced", "checks": {"d_loss_collapsed": "3/3", "samples_black": "3/3"},
          "conditions": [{"name": "model=wgan", "label": "under the WGAN", "seeds": seeds}]}
    assert _why(f) == ("under the WGAN: the samples went black at 0 of 2 seeds "
                       "(while D's loss collapsed at 2 of 2 seeds)")


def test_f1_says_when_the_samples_went_black_and_came_back():
    """F1 per seed over training: the first black snapshot, the first one after it that is not, and
    G's gradient read at each snapshot's step; a seed black at some snapshot but not at the end holds
    the 'go black' part and not the 'stay black' one."""
    import numpy as np

    from ganpipe.study.claims.f1_collapse import black_and_back, judge, timeline

    def series(black):
        n = len(black)
        return {"step": [100 * i for i in range(n)], "black_fraction": black, "pinned_black": [0.8] * n,
                "top_class_share": [1.0] * n, "modes": [1.0] * n}

    history = {"step": np.array([0, 400]), "g_grad_norm": np.array([1.0, 5.0]), "d_loss": np.array([1.0, 1.0]),
               "g_grad_at_pixels": np.array([1.0, 1.0]),
               "g_grad_at_output": np.array([0.0, 4.0]), "g_pinned_black": np.array([1.0, 0.0])}
    back = timeline(series([0.0, 0.6, 0.9, 0.2, 0.1]), history, 0.5)
    assert (back["went_black_at"], back["came_back_at"], back["black_snapshots"]) == (100, 300, 2)
    assert back["g_grad_norm"] == [1.0, 2.0, 3.0, 4.0, 5.0] and back["g_grad_at_output"] == [0.0, 1.0, 2.0, 3.0, 4.0]
    stayed = timeline(series([0.0, 0.0, 0.7, 0.8, 0.9]), history, 0.5)
    assert (stayed["went_black_at"], stayed["came_back_at"], stayed["black_snapshots"]) == (200, None, 3)
    never = timeline(series([0.0] * 5), history, 0.5)
    assert (never["went_black_at"], never["came_back_at"], never["black_snapshots"]) == (None, None, 0)

    # what separates black from not: snapshots after step 0, and the last black one before each return
    apart = black_and_back({"0": back, "1": stayed})
    assert apart["returns"] == 1
    assert apart["g_grad_at_output"] == {"black": 2.0, "not_black": 3.0, "before_return": 2.0, "back": 3.0}
    assert apart["g_pinned_black"]["before_return"] == 0.5

    t = {"f1_d_loss_max": 1e-2, "f1_g_loss_min": 5.0, "f1_black_min": 0.5, "peak_brightness": 0.2}
    ev = {"min_d_loss": 1e-5, "max_g_loss": 20.0, "black_at_some_snapshot": 0.9, "black_fraction": 0.1}
    checks = judge(ev, t)["checks"]
    assert checks["samples_black_at_some_point"] and not checks["samples_black"]
