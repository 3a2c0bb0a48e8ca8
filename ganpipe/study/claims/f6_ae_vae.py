"""F6: a plain autoencoder cannot generate from perturbed codes; a VAE with an N(0, I) prior can."""

from __future__ import annotations

from ganpipe.report.figures import grids_figure
from ganpipe.report.render import ReportInputs
from ganpipe.study.claims.claim import Claim, SingleInputs, record
from ganpipe.study.evidence import Run


def single(inp: SingleInputs) -> tuple[dict, dict]:
    ae, vae = Run(inp.stages / "ae"), Run(inp.stages / "vae")
    ae_score, vae_score = inp.reference.score(ae.samples[: inp.n]), inp.reference.score(vae.samples[: inp.n])
    ev = {"ae_fid": ae_score["fid"], "vae_fid": vae_score["fid"],
          "ae_confidence": ae_score["confidence"], "vae_confidence": vae_score["confidence"],
          "ae_modes": ae_score["modes"], "vae_modes": vae_score["modes"],
          "ae_reconstruction": ae.final("recon"), "vae_reconstruction": vae.final("recon"), "vae_kl": vae.final("kl")}
    return ev, {}


def judge(ev: dict, t: dict) -> dict:
    return record(
        "A plain autoencoder maps each code to one output and cannot generate from perturbed codes; "
        "a VAE with an N(0, I) prior and a KL term can.",
        "decode codes drawn from N(0, I): FID and classes covered (modes) of AE against VAE; classifier "
        "confidence, reconstruction error of both and the VAE's KL term alongside. (Confidence is not a "
        "check: the classifier is confidently wrong on out-of-distribution blobs, which all land in one class.)",
        ev,
        {},
        {"vae_fid_lower": ev["vae_fid"] < ev["ae_fid"], "vae_covers_more_classes": ev["vae_modes"] > ev["ae_modes"]},
    )


def section(f: dict, r: ReportInputs) -> list[str]:
    path = r.figs.add("f6_ae_vs_vae.png", grids_figure({"AE: decoded N(0, I) codes": r.model_samples["ae"][:64],
                                                        "VAE: decoded N(0, I) codes": r.model_samples["vae"][:64]}, size=3))
    return [f"![F6]({path})", ""]


CLAIM = Claim("F6", "Autoencoder against VAE", judge, section, single=single, scope="one run: the main AE and VAE")
