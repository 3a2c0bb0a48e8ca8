"""The note's claims, one module each (ganpipe/study/claims/f*.py): what the note says, the experiments
and controlled measures a claim reads, its evidence, judge, validity checks and report section.
Adding or changing a claim touches its module and findings.yaml; the findings stage and the report
loop over `CLAIMS` in the note's order."""

from ganpipe.study.claims import (f1_collapse, f2_js_saturation, f2b_optimal_d, f3_pileup, f3b_emboss, f4_noise,
                                  f4b_blur, f4c_smooth, f5_complexity, f6_ae_vae, f7_math)
from ganpipe.study.claims.claim import Claim
from ganpipe.study.verdicts import in_words

CLAIMS: dict[str, Claim] = {m.CLAIM.id: m.CLAIM for m in (
    f1_collapse, f2_js_saturation, f2b_optimal_d, f3_pileup, f3b_emboss, f4_noise, f4b_blur, f4c_smooth,
    f5_complexity, f6_ae_vae, f7_math)}
SEEDED = tuple(cid for cid, c in CLAIMS.items() if c.seeded)  # training-based: judged at every seed


def what_runs_show(findings: dict, n_seeds: int) -> dict[str, str]:
    """Each hands-on (training-based) claim's outcome as one sentence: the report's opening table."""
    return {cid: in_words(findings[cid], n_seeds) + (f"; {CLAIMS[cid].also(findings[cid])}" if CLAIMS[cid].also else "")
            for cid in SEEDED}
