"""create_dataset and the data-folder readers."""
import gzip
import struct

import numpy as np
import pytest
import torch

from kanlab import create_dataset
from kanlab.datasets import data_folder, load_mnist, read_idx
from kanlab.utils import create_dataset as create_dataset_compat


def test_create_dataset_format_ranges_and_seed() -> None:
    f = lambda x: torch.exp(torch.sin(torch.pi * x[:, [0]]) + x[:, [1]] ** 2)  # noqa: E731
    d = create_dataset(f, n_var=2, ranges=[(-1, 1), (2, 3)], train_num=50, test_num=20, seed=3)
    assert d["train_input"].shape == (50, 2) and d["test_label"].shape == (20, 1)
    assert d["train_input"][:, 1].min() >= 2 and d["train_input"][:, 1].max() <= 3
    torch.testing.assert_close(d["train_label"], f(d["train_input"]))
    again = create_dataset_compat(f, n_var=2, ranges=[(-1, 1), (2, 3)], train_num=50, test_num=20, seed=3)
    assert all(torch.equal(d[k], again[k]) for k in d)


def test_create_dataset_normalisation_and_1d_labels() -> None:
    d = create_dataset(lambda x: 5 + 3 * x[:, 0], n_var=1, normalize_input=True, normalize_label=True)
    assert d["train_label"].shape == (1000, 1)
    torch.testing.assert_close(d["train_input"].mean(), torch.tensor(0.0), atol=1e-5, rtol=0)
    torch.testing.assert_close(d["train_label"].std(), torch.tensor(1.0), atol=1e-5, rtol=0)


@pytest.mark.parametrize(
    "kwargs, match",
    [(dict(n_var=0), "n_var"), (dict(ranges=[1, -1]), "ranges"), (dict(n_var=2, ranges=[[0, 1]] * 3), "ranges")],
)
def test_create_dataset_errors(kwargs, match) -> None:
    with pytest.raises(ValueError, match=match):
        create_dataset(lambda x: x[:, [0]], **kwargs)


def test_create_dataset_follows_the_default_dtype() -> None:
    """pykan's create_dataset samples in torch's default dtype: a float64 user's model takes it."""
    from kanlab import KAN

    f = lambda x: x[:, [0]] * x[:, [1]]  # noqa: E731
    previous = torch.get_default_dtype()
    try:
        torch.set_default_dtype(torch.float64)
        d = create_dataset(f, n_var=2, train_num=20, test_num=10)
        assert all(v.dtype == torch.float64 for v in d.values())
        model = KAN(width=[2, 1], grid=3, seed=0)
        assert model(d["train_input"]).dtype == torch.float64
    finally:
        torch.set_default_dtype(previous)
    assert create_dataset(f, n_var=2, train_num=20, test_num=10)["train_input"].dtype == previous
    explicit = create_dataset(f, n_var=2, train_num=20, test_num=10, dtype=torch.float64)
    assert all(v.dtype == torch.float64 for v in explicit.values())
    with pytest.raises(TypeError, match="dtype"):
        create_dataset(f, n_var=2, dtype=torch.int64)


def write_idx(path, array: np.ndarray) -> None:
    header = struct.pack(">BBBB", 0, 0, 8, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    with gzip.open(path, "wb") as fh:
        fh.write(header + array.astype(np.uint8).tobytes())


def test_read_idx_roundtrip_and_truncation(tmp_path) -> None:
    arr = np.arange(24, dtype=np.uint8).reshape(2, 3, 4)
    write_idx(tmp_path / "a.gz", arr)
    np.testing.assert_array_equal(read_idx(tmp_path / "a.gz"), arr)
    with gzip.open(tmp_path / "b.gz", "wb") as fh:
        fh.write(struct.pack(">BBBBI", 0, 0, 8, 1, 10) + b"abc")
    with pytest.raises(ValueError, match="truncated"):
        read_idx(tmp_path / "b.gz")


def test_load_mnist_from_a_folder(tmp_path) -> None:
    root = tmp_path / "mnist"
    root.mkdir()
    for split, n in (("train", 6), ("t10k", 4)):
        write_idx(root / f"{split}-images-idx3-ubyte.gz", np.full((n, 28, 28), 255))
        write_idx(root / f"{split}-labels-idx1-ubyte.gz", np.arange(n))
    tx, ty, vx, vy = load_mnist(tmp_path)
    assert tx.shape == (6, 28, 28) and tx.max() == 1.0 and ty.dtype == torch.int64 and vy.tolist() == [0, 1, 2, 3]
    own = load_mnist(root)  # the dataset's own folder works too (load_mnist('../shared/data/mnist'))
    assert all(torch.equal(a, b) for a, b in zip(own, (tx, ty, vx, vy)))


def test_missing_data_folder_says_where(monkeypatch, tmp_path) -> None:
    monkeypatch.delenv("KANLAB_DATA", raising=False)
    with pytest.raises(FileNotFoundError, match="KANLAB_DATA"):
        load_mnist(tmp_path / "absent")
    monkeypatch.setenv("KANLAB_DATA", str(tmp_path / "absent"))
    with pytest.raises(FileNotFoundError, match="KANLAB_DATA"):
        data_folder()


def test_create_dataset_takes_pykans_arguments_in_its_order() -> None:
    """pykan's create_dataset(f, n_var, f_mode, ranges, train_num, test_num, normalize_input,
    normalize_label, device, seed): f_mode='row' gives f the transposed inputs."""
    col = create_dataset(lambda x: x[:, [0]] * x[:, [1]], 2, "col", [-2, 2], 50, 10, False, False, "cpu", 3)
    row = create_dataset(lambda x: x[0] * x[1], n_var=2, f_mode="row", ranges=[-2, 2], train_num=50, test_num=10, seed=3)
    assert all(torch.equal(col[k], row[k]) for k in col)
    assert float(col["train_input"].abs().max()) > 1  # the ranges were taken
    with pytest.raises(ValueError, match="pass ranges=... by name"):
        create_dataset(lambda x: x[:, [0]], 1, [-1, 1])
