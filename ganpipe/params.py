"""Every knob of the pipeline, as typed and validated data.

`params.yaml` (the main models' knobs) and `findings.yaml` beside it (the study's experiments, the
`findings` group) are read once, by `load_params`, into a frozen tree of pydantic models. A wrong key,
type or value raises `ParamsError` with one line that names the key, the value and what is
allowed; the CLI turns it into exit code 2 before any work starts. The library below the CLI
receives these objects and never reads params.yaml itself.
"""

from __future__ import annotations

import hashlib
import itertools
import json
from pathlib import Path
from typing import Annotated, Literal

import yaml
from pydantic import AfterValidator, BaseModel, ConfigDict, Discriminator, Field, Tag, ValidationError, model_validator

PositiveInt = Annotated[int, Field(gt=0)]
PositiveFloat = Annotated[float, Field(gt=0)]
Probability = Annotated[float, Field(gt=0, lt=1)]


def _odd(k: int) -> int:
    if k % 2 == 0:
        raise ValueError("kernel sizes must be odd so that 'same' padding keeps 28x28")
    return k


OddKernel = Annotated[int, Field(ge=1, le=9, strict=True), AfterValidator(_odd)]
# YAML has lists, not tuples: the pair itself is checked leniently, its items strictly
KernelPair = Annotated[tuple[OddKernel, OddKernel], Field(strict=False)]
Generator = Literal["fc", "conv3", "conv5", "upsample"]
Output = Literal["tanh", "sigmoid"]  # the generator's last activation: images on [-1, 1] or on [0, 1]
ImageSize = Literal[28, 56]  # 56: the note's network (FC to 56 x 56 x 2, then a conv), MNIST upscaled


class Strict(BaseModel):
    """Base: unknown keys are errors, objects are immutable once loaded, and types are not coerced
    (strict): `steps: true` or `clip: "0.1"` is an error, not 1 or 0.1. An int is still a valid float."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False, strict=True)


class DataParams(Strict):
    source: Literal["bundled", "torchvision", "idx"] = "bundled"
    test_fraction: Probability = 0.2
    root: str = "data/torchvision"  # torchvision downloads here once
    path: str | None = None  # folder with IDX files (plain or .gz), for source: idx


class LoopParams(Strict):
    """What every training stage shares: a budget in steps (batches) and when to look."""

    steps: PositiveInt = 2000
    batch_size: PositiveInt = 64
    grid_every: PositiveInt = 500  # fixed-noise sample grid, logged to MLflow
    checkpoint_every: PositiveInt = 500
    log_every: PositiveInt = 10  # history.csv / MLflow resolution, in steps
    snapshot_size: Annotated[int, Field(ge=64, le=2048)] = 64  # fixed-noise samples kept per grid step
    # bf16: matmuls and convolutions of the training step in bfloat16 under torch.autocast, weights
    # and optimizer state in float32. ~1.4x faster on CPUs with bf16 instructions (AVX512-BF16, AMX),
    # slower on CPUs without; other numbers than fp32, each the same from run to run.
    precision: Literal["fp32", "bf16"] = "fp32"


class ClassifierParams(Strict):
    epochs: PositiveInt = 8
    batch_size: PositiveInt = 128
    lr: PositiveFloat = 2e-3
    augment: bool = True  # small random affine shifts; cheap and worth ~1% on real MNIST


class AEParams(LoopParams):
    latent: PositiveInt = 32
    hidden: PositiveInt = 512
    lr: PositiveFloat = 1e-3


class VAEParams(AEParams):
    latent: PositiveInt = 16
    beta: Annotated[float, Field(ge=0)] = 1.0


class GeneratorParams(LoopParams):
    """What the GAN and the WGAN share: the generator and the image space it draws in."""

    generator: Generator = "conv5"
    latent: PositiveInt = 196  # the note's value
    upsample_kernels: KernelPair = (3, 7)
    output: Output = "tanh"
    image_size: ImageSize = 28

    @model_validator(mode="after")
    def _upsample_size(self):
        if self.generator == "upsample" and self.image_size != 28:
            raise ValueError(f"image_size = {self.image_size} is not allowed: the upsample generator draws 28 x 28 "
                             "images only")
        return self


class GANParams(GeneratorParams):
    discriminator: Literal["fc", "conv"] = "fc"
    lr_g: PositiveFloat = 2e-4
    lr_d: PositiveFloat = 2e-4
    beta1: Annotated[float, Field(ge=0, lt=1)] = 0.5
    d_steps: PositiveInt = 1
    d_pretrain: Annotated[int, Field(ge=0)] = 0  # D updates against the initial G before G trains
    g_loss: Literal["nonsaturating", "saturating"] = "nonsaturating"
    stop_on_nan: bool = True
    # each log row also runs `diagnose` (G's gradient under both losses, about one step's cost):
    # every 10 steps that took 7.5% of the MLP GAN's loop, every 25 steps 2%
    log_every: PositiveInt = 25


class WGANParams(GeneratorParams):
    critic: Literal["fc", "conv"] = "fc"
    # batch: batch norm in the critic, as the WGAN paper's code (its DCGAN discriminator). The critic
    # then sees the real and the fake batch separately, each normalised by its own statistics, so it
    # can miss what every fake shares (a grey background, say) and leave the generator there.
    critic_norm: Literal["none", "batch"] = "none"
    constraint: Literal["clip", "gp", "sn"] = "clip"
    clip: PositiveFloat = 0.01
    n_critic: PositiveInt = 5
    # paper: the WGAN paper's schedule, 100 critic updates per generator update for the first 25
    # generator updates and every 500th, n_critic otherwise
    critic_schedule: Literal["constant", "paper"] = "constant"
    lr: PositiveFloat = 5e-5  # RMSprop, as in the WGAN paper
    gp_lambda: PositiveFloat = 10.0
    lr_gp: PositiveFloat = 1e-4  # Adam(0, 0.9) for gp and sn, as in Gulrajani et al.
    stop_on_nan: bool = True

    @model_validator(mode="after")
    def _norm_with_penalty(self):
        if self.critic_norm == "batch" and self.constraint == "gp":
            raise ValueError("critic_norm = batch is not allowed with constraint = gp: the penalty is on each "
                             "sample's gradient, and batch norm makes each output depend on the whole batch")
        return self


def _distinct(seeds: list[int]) -> list[int]:
    if len(set(seeds)) != len(seeds):
        raise ValueError("seeds must be distinct")
    return seeds


Seeds = Annotated[list[Annotated[int, Field(ge=0)]], Field(min_length=1), AfterValidator(_distinct)]


# A condition map: each key a knob of the experiment, each value the list of settings to try.
# Every combination is one condition, trained at findings.map_seeds (the experiment's own setting
# at findings.seeds). A list of such grids is their union: one knob at a time, say, rather than
# every combination. Values are checked as the experiment's own knobs would be. `model` is a knob
# too: a GAN experiment's cell with model=wgan trains the same generator and loop under a WGAN
# (the other model's own knobs at its defaults, or as the grid sets them).
# Or named cells, each the knobs it sets: {note_setting: {critic_norm: batch, output: sigmoid}}; a
# cell's name is its condition's name (its folder, its key in the findings), and `confirm` lists names.
ConditionGrid = dict[str, Annotated[list[bool | int | float | str], Field(min_length=1)]]
CellName = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]*$")]
NamedCells = dict[CellName, Annotated[dict[str, bool | int | float | str], Field(min_length=1)]]
_MAP_TAGS = ("one grid", "grids", "named cells")  # (an error names the key as the file has it: map.steps, map.1.steps)


def _map_form(value) -> str:
    if isinstance(value, list):
        return _MAP_TAGS[1]
    if isinstance(value, dict) and value and all(isinstance(v, dict) for v in value.values()):
        return _MAP_TAGS[2]
    return _MAP_TAGS[0]


ConditionMap = Annotated[Annotated[ConditionGrid, Tag(_MAP_TAGS[0])] | Annotated[list[ConditionGrid], Tag(_MAP_TAGS[1])]
                         | Annotated[NamedCells, Tag(_MAP_TAGS[2])], Discriminator(_map_form)]
SHARED_KNOBS = set(GeneratorParams.model_fields)  # what a cell that changes `model` keeps


def _knobs(model: str) -> set[str]:
    """What a map may set for `model`: its config's fields, not the experiment's own bookkeeping."""
    return set(EXPERIMENTS[model].model_fields) - {"model", "map", "confirm", "seeds"}


def cell_config(exp, overrides: dict):
    """An experiment's config with a map cell's knobs set, validated as any config is."""
    model = overrides.get("model", exp.model)
    own = exp.model_dump(exclude={"map", "confirm", "seeds"})
    if model != exp.model:
        own = {k: v for k, v in own.items() if k in SHARED_KNOBS}
    return EXPERIMENTS[model].model_validate({**own, **overrides, "model": model})


class _MappedExperiment:
    @property
    def named(self) -> bool:
        return _map_form(self.map) == _MAP_TAGS[2]

    @property
    def grids(self) -> list[dict]:
        """The map as grids of values to combine (a named cell is a grid of one value per knob)."""
        if self.named:
            return [{k: [v] for k, v in cell.items()} for cell in self.map.values()]
        return self.map if isinstance(self.map, list) else [self.map] if self.map else []

    def cells(self) -> dict[str, dict]:
        """Each distinct cell of the map, by name (its own, or "key=value+..." for a grid's): the
        knobs it changes. A cell that changes nothing is the experiment's own setting, not a cell."""
        found = {}
        if self.named:
            for name, cell in self.map.items():
                overrides = {k: v for k, v in cell.items() if getattr(self, k, None) != v}
                if overrides:
                    found[name] = overrides
            return found
        for grid in self.grids:
            keys = list(grid)
            for values in itertools.product(*(grid[k] for k in keys)):
                overrides = {k: v for k, v in zip(keys, values) if getattr(self, k, None) != v}
                if overrides:
                    found.setdefault("+".join(f"{k}={v}" for k, v in sorted(overrides.items())), overrides)
        return found

    @model_validator(mode="after")
    def _grid(self):
        names = list(self.map) if self.named else []
        for i, grid in enumerate(self.grids):
            where = f"map.{names[i]}" if self.named else f"map.{i}" if isinstance(self.map, list) else "map"
            models = grid.get("model", [])
            for value in models:
                if value not in EXPERIMENTS:
                    raise ValueError(f"{where}.model = {json.dumps(value)} is not allowed: allowed: "
                                     f"{', '.join(EXPERIMENTS)}")
            for key, values in grid.items():
                if key == "model":
                    continue
                # the first model of the grid whose knob it is: this experiment's own, else one it switches to
                owner = next((m for m in [self.model, *models] if key in _knobs(m)), None)
                if owner is None:
                    raise ValueError(f"{where}.{key} is not allowed: {key!r} is not a knob of a "
                                     f"{' or '.join(dict.fromkeys([self.model, *models]))} experiment")
                for value in values:
                    try:
                        cell_config(self, {key: value} if owner == self.model else {"model": owner, key: value})
                    except ValidationError as exc:
                        raise ValueError(f"{where}.{key} = {json.dumps(value)} is not allowed: "
                                         f"{exc.errors()[0]['msg'].removeprefix('Value error, ')}") from None
        cells = self.cells()
        for name, overrides in cells.items():  # each knob's values may be fine and a cell not
            try:
                cell_config(self, overrides)
            except ValidationError as exc:
                raise ValueError(f"map cell {name} is not allowed: "
                                 f"{exc.errors()[0]['msg'].removeprefix('Value error, ')}") from None
        if self.confirm:
            names = list(cells)
            unknown = [c for c in self.confirm if c not in names]
            if unknown:
                raise ValueError(f"confirm: {unknown[0]!r} is not a condition of the map; its conditions: "
                                 f"{', '.join(names) or 'none'}")
        return self


class GANExperiment(_MappedExperiment, GANParams):
    model: Literal["gan"]
    map: ConditionMap = {}
    # conditions of the map (by name, as the report lists them) that a scan named: each also runs at
    # every seed of findings.seeds, so that it can give a verdict, not only a lead
    confirm: list[str] = []
    # seeds of its own instead of findings.seeds: runs of known state that calibrate a rule, kept
    # apart from the runs the rule judges
    seeds: Seeds | None = None


class WGANExperiment(_MappedExperiment, WGANParams):
    model: Literal["wgan"]
    map: ConditionMap = {}
    confirm: list[str] = []
    seeds: Seeds | None = None


Experiment = Annotated[GANExperiment | WGANExperiment, Field(discriminator="model")]
EXPERIMENTS = {"gan": GANExperiment, "wgan": WGANExperiment}


class ToyParams(Strict):
    """F2 / F2b toys: small MLPs on 1-D and 2-D distributions (seconds on a CPU)."""

    thetas: Annotated[int, Field(ge=3, le=101)] = 11  # grid over [-1, 1] for the disjoint-support toy
    steps: PositiveInt = 200
    clip: PositiveFloat = 0.1
    d_star_steps: PositiveInt = 2000


class Thresholds(Strict):
    """What 'reproduced' means, as numbers, where no control decides it. The artifact measures'
    thresholds are not here: they come from the measures' controls (ganpipe.measures.controls)."""

    f1_d_loss_max: PositiveFloat = 1e-2  # lowest D loss at most this: D wins outright
    f1_g_loss_min: PositiveFloat = 5.0  # highest G loss at least this (the note saw ~10)
    f1_black_min: Probability = 0.5  # share of black samples at least this ("all-black images": most of them)
    f2_js_gap_max: PositiveFloat = 0.01  # toy: |JS estimate - log 2| at every theta != 0
    f2_grad_ratio_max: PositiveFloat = 0.1  # toy: D's mean |dJS/dtheta| / the critic's
    f2_w_r2_min: Probability = 0.9  # toy: R^2 of the critic's estimate against |theta|
    f2b_mae_max: PositiveFloat = 0.05  # trained D against D*, density-weighted MAE
    f4_fade_max: Probability = 0.5  # fc head: background noise fell by at most this fraction after the digits formed
    f5_slowdown_min: PositiveFloat = 2.0  # upsample FLOPs per step / conv5's
    f7_tolerance: PositiveFloat = 1e-6


class ValidityParams(Strict):
    """What an experiment must show before its outcome counts as evidence (docs/design.md section 1b)."""

    strong_d_acc_fake_min: Probability = 0.95  # F1: D's accuracy on fakes, mean over the last third of training
    clip_binds_share_min: Annotated[float, Field(ge=0, lt=1)] = 0.0  # F3: a share above this sits at +-c
    formed_within: Annotated[float, Field(gt=1)] = 1.5  # F4: digits formed at the first FID within this x the final level
    late_snapshots_min: Annotated[int, Field(ge=2)] = 3  # the checks read medians over this many late snapshots, at least
    phase_snapshots_min: Annotated[int, Field(ge=2)] = 10  # a run judged over its whole course (F3b): a phase of a tenth of it is seen
    noise_draws: Annotated[int, Field(ge=3, le=50)] = 10  # fresh noise draws that measure the snapshot FID's spread


FloatList = Annotated[list[PositiveFloat], Field(min_length=4)]


class ControlsParams(Strict):
    """The measures' controls (ganpipe.measures.controls): doses of each artifact made from real test digits,
    and the declared rule that turns the controls into each measure's threshold."""

    n: Annotated[int, Field(ge=16, le=2048)] = 256  # real test digits each control is made from
    seed: Annotated[int, Field(ge=0)] = 0  # the controls' own noise
    # threshold = strongest negative + threshold_at * (weakest dose - strongest negative)
    threshold_at: Probability = 0.5
    black_scales: FloatList = [0.3, 0.1, 0.03, 0.01]  # F1: real digits darkened to this share
    pileup_widths: FloatList = [0.5, 1.0, 2.0, 4.0]  # F3: weights ~ N(0, (width c)^2), clipped to +-c
    emboss_strengths: FloatList = [0.1, 0.2, 0.3, 0.5]  # F3b: grey page + strength x relief filter
    low_contrast: PositiveFloat = 0.02  # F3b: a relief this faint, shown autoscaled per image
    grey_pages: FloatList = [0.2, 0.3, 0.4, 0.5]  # F3b's other look: digits on a page of this grey
    blur_sigmas: FloatList = [0.5, 1.0, 1.5, 2.0, 3.0]  # F4b: Gaussian blur, pixels
    noise_levels: FloatList = [0.05, 0.1, 0.2, 0.3]  # F4 / F4c: half-normal noise on the background

    @model_validator(mode="after")
    def _weakest_first(self):
        for key in ("black_scales",):
            if list(getattr(self, key)) != sorted(getattr(self, key), reverse=True):
                raise ValueError(f"{key} must run from the weakest dose (largest scale) down")
        for key in ("pileup_widths", "emboss_strengths", "blur_sigmas", "noise_levels"):
            if list(getattr(self, key)) != sorted(getattr(self, key)):
                raise ValueError(f"{key} must run from the weakest dose up")
        return self


class FindingsParams(Strict):
    seeds: Seeds = [0, 1, 2]  # every training-based claim runs at each seed
    map_seeds: Seeds = [0]  # the seeds that scan a condition map (a verdict needs all of `seeds`)
    experiments: dict[str, Experiment] = {}
    toy: ToyParams = ToyParams()
    fid_snapshot_n: Annotated[int, Field(ge=64, le=2048)] = 256  # FID over training steps, at this n
    controls: ControlsParams = ControlsParams()
    thresholds: Thresholds = Thresholds()
    validity: ValidityParams = ValidityParams()


class EvaluateParams(Strict):
    n_samples: PositiveInt = 2000
    k: PositiveInt = 5  # nearest neighbours for precision/recall/density/coverage


class MlflowParams(Strict):
    tracking_uri: str | None = None  # None: sqlite:///<repo root>/mlflow.db, or MLFLOW_TRACKING_URI
    experiment: str = "ganpipe"


class Params(Strict):
    seed: Annotated[int, Field(ge=0)] = 0
    device: Literal["auto", "cpu", "cuda"] = "auto"
    data: DataParams = DataParams()
    classifier: ClassifierParams = ClassifierParams()
    ae: AEParams = AEParams()
    vae: VAEParams = VAEParams()
    gan: GANParams = GANParams()
    wgan: WGANParams = WGANParams()
    evaluate: EvaluateParams = EvaluateParams()
    findings: FindingsParams = FindingsParams()
    mlflow: MlflowParams = MlflowParams()

    def digest(self) -> str:
        """A short content hash of every value: names checkpoints and the report's provenance."""
        return _hash(self.model_dump(mode="json"))

    def digest_of(self, cfg: BaseModel) -> str:
        """Hash of what a training run depends on (seed, data, its own config): names its checkpoints."""
        return _hash({"seed": self.seed, "data": self.data.model_dump(mode="json"), "cfg": cfg.model_dump(mode="json")})


def _hash(obj: object) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True).encode()).hexdigest()[:12]


class ParamsError(ValueError):
    """Bad parameters: the message is the one line the user sees."""


def _describe(err: dict, source: str) -> str:
    loc = list(err["loc"])
    if loc[:2] == ["findings", "experiments"] and len(loc) > 3 and loc[3] in ("gan", "wgan"):
        del loc[3]  # pydantic names the union member it tried; the user's file has no such level
    loc = [part for part in loc if part not in _MAP_TAGS]
    key = ".".join(str(part) for part in loc) or "(top level)"
    value = err.get("input")
    if err["type"] == "extra_forbidden":
        return f"{source}: unknown key '{key}' (check the spelling; see params.yaml and findings.yaml for the allowed keys)"
    if err["type"] == "missing":
        return f"{source}: missing key '{key}'"
    msg = err["msg"].removeprefix("Value error, ")
    if err["type"] == "value_error" and isinstance(value, dict):  # a check across keys names its own key
        return f"{source}: {key}.{msg}"
    return f"{source}: {key} = {json.dumps(value, default=str)} is not allowed: {msg}"


def parse_params(raw: object, source: str = "params", group_sources: dict[str, str] | None = None) -> Params:
    """Validate a mapping (as read from YAML) into `Params`, or raise a one-line `ParamsError` naming
    the file the bad key came from: `group_sources` maps a top-level group to its file, `source` the rest."""
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ParamsError(f"{source}: the top level must be a mapping of groups, got {type(raw).__name__}")
    try:
        return Params.model_validate(raw)
    except ValidationError as exc:
        err = exc.errors()[0]
        group = str(err["loc"][0]) if err["loc"] else ""
        raise ParamsError(_describe(err, (group_sources or {}).get(group, source))) from None


STUDY_FILE = "findings.yaml"  # beside params.yaml: the `findings` group, apart from the main models' knobs


def load_params(path: str | Path) -> Params:
    """Read and validate a params file, with the study's `findings.yaml` beside it where there is one.
    YAML is parsed with safe_load: values are never code."""
    path = Path(path)
    raw = _read_yaml(path)
    study = path.with_name(STUDY_FILE)
    if not study.is_file():
        return parse_params(raw, str(path))
    findings = _read_yaml(study)
    if not isinstance(findings, dict) or set(findings) != {"findings"}:
        raise ParamsError(f"{study}: must hold the findings group alone (a top-level key 'findings')")
    if isinstance(raw, dict) and "findings" in raw:
        raise ParamsError(f"{path}: findings is set here and in {study}; keep it in {study} alone")
    return parse_params({**(raw or {}), **findings}, str(path), {"findings": str(study)})


def _read_yaml(path: Path) -> object:
    try:
        text = path.read_text()
    except OSError as exc:
        raise ParamsError(f"{path}: cannot read the params file ({exc.strerror})") from None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        where = getattr(exc, "problem_mark", None)
        line = f" at line {where.line + 1}" if where else ""
        raise ParamsError(f"{path}: not valid YAML{line}") from None


def flatten(obj: dict, prefix: str = "") -> dict[str, object]:
    """{"a": {"b": 1}} -> {"a.b": 1}."""
    flat = {}
    for key, value in obj.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(flatten(value, name + "."))
        else:
            flat[name] = value
    return flat
