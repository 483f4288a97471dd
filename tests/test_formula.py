"""symbolic_formula: composition, rounding, numpy evaluation against the model."""
import math
import warnings

import numpy as np
import pytest
import sympy as sp
import torch

from kanlab import KAN, create_dataset


def _hand_built() -> KAN:
    """[2, 1, 1] computing exp(sin(pi x1) + x2^2) exactly, with no training."""
    model = KAN([2, 1, 1], seed=0, dtype=torch.float64)
    model.fix_symbolic(0, 0, 0, "sin", fit_params_bool=False, verbose=False)
    model.symbolic[0].affine.data[0, 0] = torch.tensor([math.pi, 0.0, 1.0, 0.0], dtype=torch.float64)
    model.fix_symbolic(0, 1, 0, "x^2", fit_params_bool=False, verbose=False)
    model.fix_symbolic(1, 0, 0, "exp", fit_params_bool=False, verbose=False)
    return model


def test_formula_of_a_hand_built_model() -> None:
    model = _hand_built()
    (expr,), (x, y) = model.symbolic_formula(var=["x", "y"], ex_round=5)  # 5 significant digits
    target = sp.exp(sp.sin(3.1416 * x) + y ** 2)
    assert sp.simplify(expr - target) == 0
    pts = torch.rand(50, 2, dtype=torch.float64) * 2 - 1
    exact = torch.exp(torch.sin(math.pi * pts[:, 0]) + pts[:, 1] ** 2)
    assert torch.allclose(model(pts)[:, 0], exact)


def test_numpy_formula_equals_model_output_on_data() -> None:
    ds = create_dataset(lambda x: torch.sin(2 * x[:, [0]]) + x[:, [1]] ** 2, n_var=2, seed=0, dtype=torch.float64)
    model = KAN([2, 2, 1], grid=5, seed=0, dtype=torch.float64)
    model.fit(ds, opt="LBFGS", steps=15, progress=False)
    model.auto_symbolic(lib=["x", "x^2", "sin", "exp", "tanh"], verbose=False)
    formula = model.symbolic_formula(ex_round=None, simplify=False)
    f = formula.to_python()
    x = ds["test_input"]
    expected = model(x).detach().numpy()
    np.testing.assert_allclose(f(x.numpy()), expected, rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(formula(x.numpy()), expected, rtol=1e-9, atol=1e-9)
    rounded = model.symbolic_formula(ex_round=4).to_python()(x.numpy())
    assert np.abs(rounded - expected).max() < 1e-2 * (np.abs(expected).max() + 1)


def test_spline_edges_count_as_zero_with_a_warning() -> None:
    """pykan's convention: a partly symbolic model's formula leaves the spline edges out (0); kanlab
    says so, naming them, and raises with strict=True."""
    model = KAN([2, 2, 1], seed=0)
    model.fix_symbolic(0, 0, 0, "sin", fit_params_bool=False, verbose=False)
    model.fix_symbolic(1, 0, 0, "x", fit_params_bool=False, verbose=False)
    model.remove_edge(0, 1, 1)  # switched off: neither a spline nor a formula, not named
    with pytest.warns(UserWarning, match=r"\(l, i, j\) \[\(0, 0, 1\), \(0, 1, 0\), \(1, 1, 0\)\] are still splines"
                                         r" and count as 0") as caught:
        (expr,), (x, y) = model.symbolic_formula(var=["x", "y"])
    assert caught[0].filename == __file__  # points at the caller
    assert expr == sp.sin(x)
    with pytest.raises(ValueError, match=r"\(0, 0, 1\).* are still splines; fix them"):
        model.symbolic_formula(strict=True)
    for edge in ((0, 0, 1), (0, 1, 0), (1, 1, 0)):
        model.fix_symbolic(*edge, "0", fit_params_bool=False, verbose=False)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert model.symbolic_formula(var=["x", "y"], strict=True).formulas == [sp.sin(x)]


def test_formula_errors() -> None:
    model = _hand_built()
    with pytest.raises(ValueError, match="var needs 2 names"):
        model.symbolic_formula(var=["x"])
    with pytest.raises(ValueError, match=r"shape \(n, 2\)"):
        model.symbolic_formula().to_python()(np.zeros((3, 3)))


def test_pruned_edges_drop_out_of_the_formula() -> None:
    model = KAN([2, 1], seed=0)
    model.fix_symbolic(0, 0, 0, "sin", fit_params_bool=False, verbose=False)
    model.remove_edge(0, 1, 0)
    (expr,), (x1, x2) = model.symbolic_formula()
    assert expr == sp.sin(x1)


def test_zero_below_drops_negligible_constants() -> None:
    model = _hand_built()
    model.symbolic[1].affine.data[0, 0, 3] = 3e-7  # a residue offset on the output edge
    (kept,), (x, y) = model.symbolic_formula(var=["x", "y"], ex_round=5)
    assert any(abs(float(f) - 3e-7) < 1e-12 for f in kept.atoms(sp.Float))
    (clean,), _ = model.symbolic_formula(var=["x", "y"], ex_round=5, zero_below=1e-5)
    assert sp.simplify(clean - sp.exp(sp.sin(3.1416 * x) + y ** 2)) == 0


def test_slow_simplify_returns_the_formula_unsimplified(monkeypatch) -> None:
    import time

    import kanlab.formula as formula_module

    def slow(e):
        time.sleep(5)
        return e

    monkeypatch.setattr(formula_module.sp, "simplify", slow)
    model = _hand_built()
    start = time.perf_counter()
    with pytest.warns(RuntimeWarning, match="unsimplified") as record:
        (expr,), (x, y) = model.symbolic_formula(var=["x", "y"], ex_round=5, simplify_timeout=0.2)
    assert time.perf_counter() - start < 3
    assert record[0].filename == __file__  # the warning points at the user's call, not into kanlab
    monkeypatch.undo()
    assert sp.simplify(expr - sp.exp(sp.sin(3.1416 * x) + y ** 2)) == 0


def test_simplify_passes_on_timeouts_that_are_not_its_own(monkeypatch) -> None:
    import kanlab.formula as formula_module

    def raising(e):
        raise TimeoutError("the user's own")

    monkeypatch.setattr(formula_module.sp, "simplify", raising)
    model = _hand_built()
    for timeout in (None, 10.0):
        with pytest.raises(TimeoutError, match="the user's own"):
            model.symbolic_formula(simplify_timeout=timeout)
    with pytest.raises(ValueError, match="simplify_timeout"):
        model.symbolic_formula(simplify_timeout=0)
