import math

import numpy as np
import pytest
import scipy.special as sp
import torch

from kanlab.datasets import SPECIAL_FUNCTIONS, special_dataset, special_function

POINT = (0.4, 0.7)


def test_fifteen_functions_all_finite_in_range():
    assert len(SPECIAL_FUNCTIONS) == 15
    for name, (_, ranges, label) in SPECIAL_FUNCTIONS.items():
        data = special_dataset(name, train_num=64, test_num=16, seed=0)
        assert data["train_input"].shape == (64, 2) and data["train_label"].shape == (64, 1)
        assert data["test_input"].shape == (16, 2) and data["train_label"].dtype == torch.float32
        for j, (lo, hi) in enumerate(ranges):
            assert data["train_input"][:, j].min() >= lo and data["train_input"][:, j].max() <= hi
        assert torch.isfinite(data["train_label"]).all(), label
        assert data["train_label"].std() > 1e-3, f"{name} is nearly constant on its range"


@pytest.mark.parametrize("name, expected", [
    ("ellipj", sp.ellipj(*POINT)[0]),
    ("ellipkinc", sp.ellipkinc(*POINT)),
    ("ellipeinc", sp.ellipeinc(*POINT)),
    ("jv", sp.jv(*POINT)),
    ("yv", sp.yv(*POINT)),
    ("kv", sp.kv(*POINT)),
    ("iv", sp.iv(*POINT)),
    ("lpmv_m1", sp.lpmv(1, *POINT)),
])
def test_values_equal_scipy(name, expected):
    fn = special_function(name)[0]
    assert fn(torch.tensor([POINT], dtype=torch.float64)).item() == pytest.approx(float(expected), rel=1e-12)


def test_closed_forms():
    x, y = POINT  # x: azimuth / degree / order, y: polar angle / argument
    t = torch.tensor([POINT], dtype=torch.float64)
    # spherical harmonics (real part), azimuth x, polar angle y
    assert special_function("sph_harm_m0_n1")[0](t).item() == pytest.approx(0.5 * math.sqrt(3 / math.pi) * math.cos(y))
    y11 = -0.5 * math.sqrt(3 / (2 * math.pi)) * math.sin(y) * math.cos(x)
    assert special_function("sph_harm_m1_n1")[0](t).item() == pytest.approx(y11)
    y20 = 0.25 * math.sqrt(5 / math.pi) * (3 * math.cos(y) ** 2 - 1)
    assert special_function("sph_harm_m0_n2")[0](t).item() == pytest.approx(y20)
    y22 = 0.25 * math.sqrt(15 / (2 * math.pi)) * math.sin(y) ** 2 * math.cos(2 * x)
    assert special_function("sph_harm_m2_n2")[0](t).item() == pytest.approx(y22)
    y21 = -0.5 * math.sqrt(15 / (2 * math.pi)) * math.sin(y) * math.cos(y) * math.cos(x)
    assert special_function("sph_harm_m1_n2")[0](t).item() == pytest.approx(y21)
    # integer degree: P_1(z) = z, P_2^2(z) = 3 (1 - z^2); incomplete integrals at m = 0 give phi
    z = torch.tensor([[1.0, y], [2.0, y]], dtype=torch.float64)
    assert special_function("lpmv_m0")[0](z)[0].item() == pytest.approx(y)
    assert special_function("lpmv_m2")[0](z)[1].item() == pytest.approx(3 * (1 - y * y))
    m0 = torch.tensor([[x, 0.0]], dtype=torch.float64)
    assert special_function("ellipkinc")[0](m0).item() == pytest.approx(x)
    assert special_function("ellipj")[0](m0).item() == pytest.approx(math.sin(x))
    assert special_function("jv")[0](torch.tensor([[0.5, y]], dtype=torch.float64)).item() == pytest.approx(
        math.sqrt(2 / (math.pi * y)) * math.sin(y))


def test_seed_dtype_ranges_and_labels_from_inputs():
    a = special_dataset("kv", 40, 10, seed=5, dtype=torch.float64)
    b = special_dataset("kv", 40, 10, seed=5, dtype=torch.float64)
    assert torch.equal(a["train_input"], b["train_input"]) and a["train_label"].dtype == torch.float64
    assert a["train_input"][:, 1].min() >= 1.0  # kv's argument is kept away from its pole at 0
    xs = a["train_input"].numpy()
    assert np.allclose(a["train_label"][:, 0].numpy(), sp.kv(xs[:, 0], xs[:, 1]), rtol=1e-13)
    custom = special_dataset("jv", 40, 0, ranges=[(2.0, 3.0), (5.0, 6.0)])
    assert custom["train_input"][:, 0].min() >= 2 and custom["train_input"][:, 1].min() >= 5
    assert "test_input" not in custom


def test_errors():
    with pytest.raises(ValueError, match="accepted: ellipj, ellipkinc"):
        special_dataset("sph_harm")
    with pytest.raises(ValueError, match="dtype"):
        special_dataset("jv", dtype=torch.float16)
    with pytest.raises(ValueError, match="test_num"):
        special_dataset("jv", test_num=-1)
    with pytest.raises(ValueError, match="shape"):
        special_function("jv")[0](torch.zeros(3, 3))


def test_import_kanlab_does_not_need_scipy() -> None:
    import subprocess
    import sys

    code = ("import sys, torch._dynamo\n"
            "for m in ('scipy', 'scipy.special'): sys.modules[m] = None\n"
            "import kanlab, kanlab.datasets\n"
            "try:\n    kanlab.datasets.special_dataset('jv')\n"
            "except ImportError as err:\n    print('clear:', err)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "need scipy >= 1.15" in out.stdout
