"""The IDX reader on the real MNIST test set and on broken copies; sources; the seeded split."""

import gzip

import numpy as np
import pytest

from conftest import cli
from ganpipe.data.images import read_idx
from ganpipe.data.mnist import DataError, load_idx_folder, prepare, split_indices
from ganpipe.params import DataParams
from ganpipe.running.files import InputError


def test_reads_real_t10k_gz_and_plain(t10k, tmp_path):
    images = read_idx(t10k / "t10k-images-idx3-ubyte.gz")
    labels = read_idx(t10k / "t10k-labels-idx1-ubyte.gz")
    assert images.shape == (10000, 28, 28) and images.dtype == np.uint8
    assert np.bincount(labels).tolist() == [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
    plain = tmp_path / "t10k-labels-idx1-ubyte"
    plain.write_bytes(gzip.decompress((t10k / "t10k-labels-idx1-ubyte.gz").read_bytes()))
    assert np.array_equal(read_idx(plain), labels)


def _raw(t10k):
    return gzip.decompress((t10k / "t10k-images-idx3-ubyte.gz").read_bytes())


@pytest.mark.parametrize(
    "corrupt,message",
    [
        (lambda b: b"\x12\x34" + b[2:], "bad IDX magic"),
        (lambda b: b[:-100], "truncated or corrupt"),
        (lambda b: b[:4] + (20000).to_bytes(4, "big") + b[8:], "truncated or corrupt"),
        (lambda b: b[:3] + b"\x07" + b[4:], "bad IDX header"),
        (lambda b: b"", "empty file"),
    ],
)
def test_corrupt_copies_name_the_file(t10k, tmp_path, corrupt, message):
    bad = tmp_path / "t10k-images-idx3-ubyte"
    bad.write_bytes(corrupt(_raw(t10k)))
    with pytest.raises(InputError, match=message) as err:
        read_idx(bad)
    assert str(bad) in str(err.value)


def test_truncated_gzip_names_the_file(t10k, tmp_path):
    bad = tmp_path / "t10k-images-idx3-ubyte.gz"
    bad.write_bytes((t10k / "t10k-images-idx3-ubyte.gz").read_bytes()[:5000])
    with pytest.raises(InputError, match="cannot decompress") as err:
        read_idx(bad)
    assert str(bad) in str(err.value)


def test_idx_source_splits_a_single_set(t10k):
    arrays, info = prepare(DataParams(source="idx", path=str(t10k), test_fraction=0.25), seed=0)
    assert arrays["images"].shape == (10000, 28, 28)
    assert info["counts"]["test"]["total"] == 2500 and info["counts"]["train"]["total"] == 7500
    assert sum(info["counts"]["test"]["per_class"]) == 2500


def test_idx_folder_without_files(tmp_path):
    with pytest.raises(DataError, match="no IDX image/label pair"):
        load_idx_folder(tmp_path)


def test_bundled_same_seed_same_arrays_other_seed_other_split():
    a1, i1 = prepare(DataParams(), seed=0)
    a2, i2 = prepare(DataParams(), seed=0)
    a3, i3 = prepare(DataParams(), seed=1)
    assert a1["images"].shape == (5000, 28, 28) and np.bincount(a1["labels"]).tolist() == [500] * 10
    for key in a1:
        assert np.array_equal(a1[key], a2[key])
    assert i1["sha256"] == i2["sha256"]
    assert not np.array_equal(a1["is_test"], a3["is_test"])
    assert a1["is_test"].sum() == a3["is_test"].sum() == 1000


def test_split_is_a_permutation_prefix():
    mask = split_indices(100, 0.3, seed=7)
    assert mask.sum() == 30 and np.array_equal(mask, split_indices(100, 0.3, seed=7))


def test_torchvision_source_offline_uses_files_in_place(t10k, tmp_path):
    raw = tmp_path / "tv" / "MNIST" / "raw"
    raw.mkdir(parents=True)
    for kind, stem in (("images", "idx3"), ("labels", "idx1")):
        data = gzip.decompress((t10k / f"t10k-{kind}-{stem}-ubyte.gz").read_bytes())
        (raw / f"t10k-{kind}-{stem}-ubyte").write_bytes(data)
        (raw / f"train-{kind}-{stem}-ubyte").write_bytes(data)  # stands in for the 60k set
    arrays, info = prepare(DataParams(source="torchvision", root=str(tmp_path / "tv")), seed=0)
    assert info["counts"]["train"]["total"] == 10000 and info["counts"]["test"]["total"] == 10000
    assert arrays["images"].dtype == np.uint8


def test_torchvision_without_network_says_what_to_do(tmp_path, params_file):
    path = params_file({"data": {"source": "torchvision", "root": str(tmp_path / "empty")}})
    result = cli("prepare", "--params", str(path), "--out", str(tmp_path / "out"))
    if result.returncode == 0:
        pytest.skip("this machine can download MNIST")
    assert result.returncode == 1
    assert "data.source: bundled" in result.stderr and "idx" in result.stderr
    assert not (tmp_path / "out" / "mnist.npz").exists()


def test_prepare_cli_writes_npz_and_summary(tmp_path, params_file):
    out = tmp_path / "out"
    result = cli("prepare", "--params", str(params_file()), "--out", str(out))
    assert result.returncode == 0, result.stderr
    with np.load(out / "mnist.npz") as z:
        assert set(z.files) == {"images", "labels", "is_test"}
    assert (out / "data.json").read_text().count("sha256") == 1
    assert not list(out.glob(".*.tmp"))
