import math

import pytest
import torch

from kanlab.datasets import TOY_FUNCTIONS, toy_dataset, toy_function


def test_registry_shapes_and_widths():
    assert set(TOY_FUNCTIONS) == {"j0", "expsin", "xy", "100d", "4d"}
    for name, (fn, n_var, width) in TOY_FUNCTIONS.items():
        assert width[0] == n_var and width[-1] == 1
        data = toy_dataset(name, train_num=50, test_num=20, seed=1)
        assert data["train_input"].shape == (50, n_var) and data["train_label"].shape == (50, 1)
        assert data["test_input"].shape == (20, n_var) and data["test_label"].shape == (20, 1)
        assert data["train_input"].min() >= -1 and data["train_input"].max() <= 1
        assert torch.allclose(fn(data["train_input"]), data["train_label"])


def test_values_match_closed_forms():
    x = torch.tensor([[0.3, -0.5, 0.1, 0.7]], dtype=torch.float64)
    a, b, c, d = 0.3, -0.5, 0.1, 0.7
    j0 = toy_function("j0")[0](x[:, :1]).item()
    # J0(6) from the series sum_k (-1)^k (3)^{2k} / (k!)^2
    series = sum((-1) ** k * 3.0 ** (2 * k) / math.factorial(k) ** 2 for k in range(40))
    assert j0 == pytest.approx(series, abs=1e-6)  # torch.special.bessel_j0 is good to ~1e-7
    assert toy_function("expsin")[0](x[:, :2]).item() == pytest.approx(math.exp(math.sin(math.pi * a) + b * b))
    assert toy_function("xy")[0](x[:, :2]).item() == pytest.approx(a * b)
    expected = math.exp(0.5 * (math.sin(math.pi * (a * a + b * b)) + math.sin(math.pi * (c * c + d * d))))
    assert toy_function("4d")[0](x).item() == pytest.approx(expected)
    x100 = torch.full((1, 100), 1.0, dtype=torch.float64)
    assert toy_function("100d")[0](x100).item() == pytest.approx(math.e)


def test_seed_reproducible_and_dtype():
    a, b = toy_dataset("expsin", 30, 30, seed=3), toy_dataset("expsin", 30, 30, seed=3)
    assert torch.equal(a["train_input"], b["train_input"]) and torch.equal(a["test_label"], b["test_label"])
    assert not torch.equal(a["train_input"], toy_dataset("expsin", 30, 30, seed=4)["train_input"])
    assert toy_dataset("xy", 5, 5, dtype=torch.float64)["train_label"].dtype == torch.float64


def test_errors():
    with pytest.raises(ValueError, match="accepted: j0, expsin"):
        toy_dataset("sin")
    with pytest.raises(ValueError, match="train_num"):
        toy_dataset("xy", train_num=0)
