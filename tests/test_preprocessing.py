"""kanlab.preprocessing.Standardizer: one standardiser for tensors and arrays."""
import pickle
import subprocess
import sys

import numpy as np
import pytest
import torch

from kanlab.preprocessing import Standardizer


def _data(seed: int = 0, n: int = 50, d: int = 4) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, d)) * np.array([1.0, 10.0, 0.01, 3.0])[:d] + np.array([0.0, -5.0, 100.0, 2.0])[:d]


@pytest.mark.parametrize("ddof", [0, 1])
@pytest.mark.parametrize("kind", ["numpy", "torch"])
def test_round_trip_and_unit_statistics(kind, ddof) -> None:
    x = _data()
    data = torch.as_tensor(x) if kind == "torch" else x
    s = Standardizer(data, ddof=ddof)
    z = s.transform(data)
    assert type(z) is type(data) and tuple(z.shape) == x.shape
    z = np.asarray(z)
    np.testing.assert_allclose(z.mean(0), 0.0, atol=1e-9)  # column 2: mean 100, std 0.01
    np.testing.assert_allclose(z.std(0, ddof=ddof), 1.0, rtol=1e-12)
    back = s.inverse(s.transform(data))
    np.testing.assert_allclose(np.asarray(back), x, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("ddof", [0, 1])
def test_scale_is_numpy_std_with_ddof(ddof) -> None:
    x = _data(1)
    for data in (x, torch.as_tensor(x)):
        s = Standardizer(data, ddof=ddof)
        np.testing.assert_allclose(np.asarray(s.mean), x.mean(0), rtol=1e-10)
        np.testing.assert_allclose(np.asarray(s.scale), x.std(0, ddof=ddof), rtol=1e-10)
    s0, s1 = Standardizer(x, ddof=0), Standardizer(x, ddof=1)
    np.testing.assert_allclose(s1.scale / s0.scale, np.sqrt(len(x) / (len(x) - 1)), rtol=1e-10)


def test_torch_and_numpy_give_the_same_numbers() -> None:
    x = _data(2)
    x[:, 1] = 7.0  # a constant column too
    sn, st = Standardizer(x), Standardizer(torch.as_tensor(x))
    assert isinstance(sn.mean, np.ndarray) and isinstance(st.mean, torch.Tensor)
    np.testing.assert_allclose(st.mean.numpy(), sn.mean, rtol=1e-10)
    np.testing.assert_allclose(st.scale.numpy(), sn.scale, rtol=1e-10)
    np.testing.assert_allclose(st.transform(torch.as_tensor(x)).numpy(), sn.transform(x), rtol=1e-10, atol=1e-10)
    # statistics fitted on one kind apply to the other
    np.testing.assert_allclose(sn.transform(torch.as_tensor(x)).numpy(), sn.transform(x), rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(st.transform(x), sn.transform(x), rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_torch_keeps_dtype_and_device(dtype) -> None:
    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    for device in devices:
        x = torch.as_tensor(_data(3), dtype=dtype, device=device)
        s = Standardizer(x)
        assert s.mean.dtype == dtype and s.mean.device == x.device and s.scale.shape == (4,)
        for out in (s.transform(x), s.inverse(x)):
            assert out.dtype == dtype and out.device == x.device
        # fitted in float64, applied to float32: the output is float32
        s64 = Standardizer(x.double())
        assert s64.transform(x.float()).dtype == torch.float32
    assert Standardizer(torch.arange(6).reshape(3, 2)).mean.dtype == torch.get_default_dtype()


def test_numpy_dtypes() -> None:
    x = _data(4).astype(np.float32)
    s = Standardizer(x)
    assert s.mean.dtype == np.float64 and s.scale.dtype == np.float64
    assert s.transform(x).dtype == np.float32 and s.inverse(x).dtype == np.float32
    ints = np.arange(12).reshape(6, 2)
    assert Standardizer(ints).transform(ints).dtype == np.float64


def test_constant_columns_scale_one() -> None:
    x = torch.tensor([[1.0, 5.0, 2.0], [3.0, 5.0, 4.0], [5.0, 5.0, 9.0]], dtype=torch.float64)
    for data in (x, x.numpy()):
        for ddof in (0, 1):
            s = Standardizer(data, ddof=ddof)
            assert float(s.scale[1]) == 1.0 and float(s.mean[1]) == 5.0
            assert np.all(np.asarray(s.transform(data))[:, 1] == 0.0)  # centred only
    # one row: every column is constant (ddof=0) or has no sample std (ddof=1)
    for ddof in (0, 1):
        assert np.all(np.asarray(Standardizer(x[:1], ddof=ddof).scale) == 1.0)
        assert np.all(Standardizer(x[:1].numpy(), ddof=ddof).scale == 1.0)


def test_constant_columns_raise() -> None:
    x = np.array([[1.0, 5.0], [3.0, 5.0], [4.0, 5.0]])
    for data in (x, torch.as_tensor(x)):
        with pytest.raises(ValueError, match=r"constant column\(s\) \[1\]"):
            Standardizer(data, ddof=1, constant="raise")
        with pytest.raises(ValueError, match="1 row"):
            Standardizer(data[:1, :1], ddof=1, constant="raise")
        Standardizer(data[:, :1], ddof=1, constant="raise")  # no constant column: fine
        Standardizer(data[:1, :1], ddof=0, constant="scale_one")


def test_argument_and_shape_errors() -> None:
    with pytest.raises(ValueError, match="ddof"):
        Standardizer(ddof=2)
    with pytest.raises(ValueError, match="ddof"):
        Standardizer(ddof=True)
    with pytest.raises(ValueError, match="constant must be one of"):
        Standardizer(constant="skip")
    for bad in (torch.zeros(0, 2), np.zeros((0, 2)), np.zeros(3), torch.zeros(2, 2, 2)):
        with pytest.raises(ValueError, match="non-empty"):
            Standardizer(bad)
    with pytest.raises(RuntimeError, match="not fitted"):
        Standardizer().transform(np.zeros((2, 2)))
    s = Standardizer(np.ones((3, 2)))
    with pytest.raises(ValueError, match="2 columns"):
        s.transform(np.zeros((3, 3)))
    with pytest.raises(ValueError, match="2 columns"):
        s.inverse(torch.zeros(3, 1))


def test_fit_returns_self_fit_transform_and_pickle() -> None:
    x = _data(5)
    s = Standardizer()
    assert s.fit(x) is s
    np.testing.assert_array_equal(Standardizer().fit_transform(x), s.transform(x))
    t = pickle.loads(pickle.dumps(Standardizer(torch.as_tensor(x))))
    np.testing.assert_allclose(t.transform(x), s.transform(x), rtol=1e-10, atol=1e-10)
    assert "ddof=0" in repr(s) and "n_features=4" in repr(s)


def test_supervised_reexports_it_and_datasets_use_it() -> None:
    from kanlab.datasets import create_dataset, standardize
    from kanlab.supervised import Standardizer as FromSupervised

    assert FromSupervised is Standardizer
    a = _data(6).astype(np.float32)
    b = _data(7).astype(np.float32)
    sa, sb = standardize(a, b)
    mean, std = a.mean(0, dtype=np.float64), a.std(0, dtype=np.float64)
    np.testing.assert_array_equal(sa, ((a - mean) / std).astype(np.float32))  # the numbers of before
    np.testing.assert_array_equal(sb, ((b - mean) / std).astype(np.float32))
    assert sa.dtype == sb.dtype == np.float32

    d = create_dataset(lambda x: x[:, [0]] * 3 + 1, n_var=2, train_num=20, test_num=5,
                       normalize_input=True, normalize_label=True, dtype=torch.float64)
    raw = create_dataset(lambda x: x[:, [0]] * 3 + 1, n_var=2, train_num=20, test_num=5, dtype=torch.float64)
    for key in ("input", "label"):
        mean, std = raw[f"train_{key}"].mean(0, keepdim=True), raw[f"train_{key}"].std(0, keepdim=True)  # ddof=1
        for split in ("train", "test"):
            torch.testing.assert_close(d[f"{split}_{key}"], (raw[f"{split}_{key}"] - mean) / std, rtol=0, atol=0)
    with pytest.raises(ValueError, match="cannot normalize the labels: a column is constant or there is one sample"):
        create_dataset(lambda x: torch.ones(len(x), 1), n_var=1, train_num=10, normalize_label=True)
    with pytest.raises(ValueError, match="cannot normalize the inputs"):
        create_dataset(lambda x: x, n_var=1, train_num=1, normalize_input=True)


def test_importing_datasets_first_has_no_cycle() -> None:
    for module in ("kanlab.preprocessing", "kanlab.datasets", "kanlab.datasets.tabular", "kanlab.validation"):
        code = f"import {module}; import kanlab.preprocessing as p; assert p.Standardizer"
        subprocess.run([sys.executable, "-c", code], check=True)
