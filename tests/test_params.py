"""Bad params stop a command before any work: exit 2, one line naming the key, nothing written."""

import re

import pytest
import yaml

from conftest import cli
from ganpipe.params import ParamsError, load_params, parse_params

BAD = [
    ({"data": {"source": "s3"}}, "data.source", "'bundled', 'torchvision' or 'idx'"),
    ({"data": {"test_fraction": 1.5}}, "data.test_fraction", "less than 1"),
    ({"data": {"sauce": "bundled"}}, "data.sauce", "unknown key"),
    ({"seed": "zero"}, "seed", "valid integer"),
    ({"seed": -1}, "seed", "greater than or equal to 0"),
    ({"mlflow": {"experiment": ["a", "b"]}}, "mlflow.experiment", "valid string"),
]


@pytest.mark.parametrize("override,key,allowed", BAD)
def test_bad_value_exits_2_names_key_and_writes_nothing(tmp_path, params_file, override, key, allowed):
    path = params_file(override)
    out = tmp_path / "out"
    result = cli("prepare", "--params", str(path), "--out", str(out))
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert key in lines[0] and allowed in lines[0]
    assert "Traceback" not in result.stderr
    assert not out.exists()
    assert not (tmp_path / "mlflow.db").exists()


def test_validation_covers_stage_groups():
    with pytest.raises(ParamsError, match=r"wgan.clip = -0.1 .*greater than 0"):
        parse_params({"wgan": {"clip": -0.1}})
    with pytest.raises(ParamsError, match=r"gan.upsample_kernels.1 = 4 .*odd"):
        parse_params({"gan": {"upsample_kernels": [3, 4]}})
    with pytest.raises(ParamsError, match=r"unknown key 'gan.lr'"):
        parse_params({"gan": {"lr": 1e-3}})


@pytest.mark.parametrize("override,key", [
    ({"gan": {"steps": True}}, "gan.steps = true"),  # YAML `true` is not 1
    ({"wgan": {"clip": False}}, "wgan.clip = false"),
    ({"wgan": {"clip": "0.1"}}, 'wgan.clip = "0.1"'),  # a quoted number is a string
    ({"gan": {"stop_on_nan": 1}}, "gan.stop_on_nan = 1"),
    ({"gan": {"upsample_kernels": [3, True]}}, "gan.upsample_kernels.1 = true"),
])
def test_types_are_not_coerced(override, key):
    with pytest.raises(ParamsError, match=re.escape(key)):
        parse_params(override)


def test_ints_are_floats_and_lists_are_kernel_pairs():
    p = parse_params({"wgan": {"clip": 1, "upsample_kernels": [5, 7]}})  # as `dvc exp run -S wgan.clip=1` writes
    assert p.wgan.clip == 1.0 and p.wgan.upsample_kernels == (5, 7)


def test_missing_or_broken_file(tmp_path):
    with pytest.raises(ParamsError, match="cannot read"):
        load_params(tmp_path / "nope.yaml")
    broken = tmp_path / "broken.yaml"
    broken.write_text("data: [unclosed\n")
    with pytest.raises(ParamsError, match="not valid YAML"):
        load_params(broken)
    listed = tmp_path / "list.yaml"
    listed.write_text("- 1\n- 2\n")
    with pytest.raises(ParamsError, match="mapping"):
        load_params(listed)


def test_yaml_is_never_code(tmp_path):
    evil = tmp_path / "evil.yaml"
    evil.write_text("seed: !!python/object/apply:os.system ['touch pwned']\n")
    with pytest.raises(ParamsError, match="not valid YAML"):
        load_params(evil)


def test_project_params_are_valid_and_digest_is_stable():
    from conftest import ROOT, project_params

    a = load_params(ROOT / "params.yaml")
    b = parse_params(project_params())
    assert a == b and a.digest() == b.digest()
    assert parse_params({"seed": 1}).digest() != parse_params({"seed": 2}).digest()


def test_the_study_file_beside_params_yaml_holds_the_findings_group(tmp_path):
    """findings.yaml beside params.yaml is read with it; a findings group in both, or a bad key in
    the study file, stops with one line that names the file to fix."""
    (tmp_path / "params.yaml").write_text(yaml.safe_dump({"seed": 3}))
    (tmp_path / "findings.yaml").write_text(yaml.safe_dump({"findings": {"seeds": [4, 5]}}))
    params = load_params(tmp_path / "params.yaml")
    assert params.seed == 3 and params.findings.seeds == [4, 5]

    (tmp_path / "findings.yaml").write_text(yaml.safe_dump({"findings": {"seedz": [4]}}))
    with pytest.raises(ParamsError) as err:
        load_params(tmp_path / "params.yaml")
    assert str(err.value).startswith(f"{tmp_path / 'findings.yaml'}: unknown key 'findings.seedz'")

    # a bad key of params.yaml is params.yaml's to name, whatever its message quotes
    (tmp_path / "findings.yaml").write_text(yaml.safe_dump({"findings": {"seeds": [4, 5]}}))
    (tmp_path / "params.yaml").write_text(yaml.safe_dump({"wgan": {"critic_norm": "'findings'"}}))
    with pytest.raises(ParamsError) as err:
        load_params(tmp_path / "params.yaml")
    assert str(err.value).startswith(f"{tmp_path / 'params.yaml'}: wgan.critic_norm")

    (tmp_path / "findings.yaml").write_text(yaml.safe_dump({"findings": {}, "seed": 1}))
    with pytest.raises(ParamsError, match="must hold the findings group alone"):
        load_params(tmp_path / "params.yaml")

    (tmp_path / "findings.yaml").write_text(yaml.safe_dump({"findings": {}}))
    (tmp_path / "params.yaml").write_text(yaml.safe_dump({"findings": {"seeds": [1]}}))
    with pytest.raises(ParamsError, match="findings is set here and in .*findings.yaml"):
        load_params(tmp_path / "params.yaml")
