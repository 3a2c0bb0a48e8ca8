"""The note's claims, one module each (ganpipe/study/claims/f*.py): what the note says, the experiments
and controlled measures a claim reads, its evidence, judge, validity checks and report section.
Adding or changing a claim touches its module and params.yaml; the findings stage and the report
loop over `CLAIMS` in the note's order."""

from ganpipe.study.claims import (f1_collapse, f2_js_saturation, f2b_optimal_d, f3_pileup, f3b_emboss, f4_noise,
                                  f4b_blur, f4c_smooth, f5_complexity, f6_ae_vae, f7_math)
from ganpipe.study.claims.claim import Claim
from ganpipe.study.verdicts import in_words

CLAIMS: dict[str, Claim] = {m.CLAIM.id: m.CLAIM for m in (
    f1_collapse, f2_js_saturation, f2b_optimal_d, f3_pileup, f3b_emboss, f4_noise, f4b_blur, f4c_smooth,
    f5_complexity, f6_ae_vae, f7_math)}
SEEDED = tuple(cid for cid, c in CLAIMS.items() if c.seeded)  # training-based: judged at every seed

# the note's hands-on findings, as the report's opening names them: (topic, claims, what each claim says)
HANDS_ON = [
    ("Collapse under a too-strong discriminator", ("F1",), ("",)),
    ("Embossing at a large clip", ("F3b",), ("",)),
    ("3x3 against 5x5 output kernels", ("F4b", "F4c"), ("the 3x3 head's slowly fading blur",
                                                        "the 5x5 head's smooth digits without peripheral noise")),
]


def opening(findings: dict, n_seeds: int) -> list[tuple[str, tuple[str, ...], str]]:
    """The report's first lines: each hands-on finding as (topic, claim ids, one sentence)."""
    return [(topic, ids, "; ".join((f"{what}: " if what else "") + in_words(findings[cid], n_seeds)
                                   for cid, what in zip(ids, whats)))
            for topic, ids, whats in HANDS_ON]
