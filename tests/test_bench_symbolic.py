"""The recovery check of ``benchmarks/symbolic.py``: it must accept the target's structure with
constants that are exact only in combination, and refuse look-alikes that fit the data."""
import os
import sys

import numpy as np
import pytest
import sympy as sp

pytest.importorskip("scipy")
sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "benchmarks"))
import symbolic as bench  # noqa: E402


def _recipe(formula: str, variables, ranges):
    return bench.Recipe("t", formula, list(variables), list(ranges), [len(variables), 1], ["x"])


def test_structure_accepts_constants_exact_only_in_combination():
    r = _recipe("1/(1/d1 + n/d2)", ["d1", "d2", "n"], [(1, 5)] * 3)
    d1, d2, n = sp.symbols("d1 d2 n")
    # a formula kanlab gave for I.27.6: c1 * (c2 / d2) * (c3 * n) with c1 c2 c3 = 1, and a Moebius map of 1/d1
    expr = 1 / (-6.849 * (6.867e-8 - 0.3473 / (d2 + 6.765e-7)) * (0.4204 * n - 2.542e-7) - 2.792
                + 3.968 / (1.421 - 0.5078 / (0.9973 * d1 + 0.3572)))
    ok, how, err = bench.recovered(expr, r)
    assert ok and how == "structure" and err < 1e-2


def test_structure_allows_large_fitted_constants():
    # pykan's rounding leaves prefactors like 1.3e5 when exp(c) is expanded: the bound is relative
    r = _recipe("x*y", ["x", "y"], [(1, 3)] * 2)
    x, y = sp.symbols("x y")
    ok, how, _ = bench.recovered(131729.0 * (0.0002732 * x + 1e-6) * (0.02779 * y), r)
    assert ok and how == "structure"


def test_exact_snapping_still_comes_first():
    r = _recipe("x*y", ["x", "y"], [(-1, 1)] * 2)
    x, y = sp.symbols("x y")
    ok, how, _ = bench.recovered(1.0003 * x * y + 1e-5, r)
    assert ok and how == "exact"


def test_structure_refuses_a_polynomial_look_alike():
    r = _recipe("exp(x)", ["x"], [(0, 1)])
    x = sp.Symbol("x")
    grid = np.linspace(0, 1, 200)
    coef = np.polyfit(grid, np.exp(grid), 3)  # within 1e-4 of exp on [0, 1]
    expr = sum(sp.Float(c) * x ** (3 - i) for i, c in enumerate(coef))
    ok, how, err = bench.recovered(expr, r)
    assert err < 1e-2 and not ok and how == ""
    target, syms = bench.target_expr(r)
    rng = np.random.default_rng(0)
    boxes = [bench._box(r, 0.0, 500, rng), bench._box(r, 0.5, 500, rng)]
    assert bench.structure_error(expr, target, syms, boxes) > 1e-6


def test_structure_refuses_a_limit_look_alike():
    # c * exp(a x) - c tends to x only as a -> 0 with c = 1/a: the constant bound stops it
    r = _recipe("x", ["x"], [(1, 2)])
    x = sp.Symbol("x")
    ok, _, err = bench.recovered(100.0 * sp.exp(0.01 * x) - 100.0, r)
    assert err < 1e-2 and not ok


def test_wrong_formula_is_refused_without_refitting():
    r = _recipe("x*y", ["x", "y"], [(-1, 1)] * 2)
    x, y = sp.symbols("x y")
    ok, how, err = bench.recovered(0.5 * x + y, r)
    assert not ok and how == "" and err > 1e-2


@pytest.mark.parametrize("name", sorted(bench.TRANSFORMS))
def test_transforms_map_the_fitted_formula_back(name):
    fwd, back = bench.TRANSFORMS[name]
    x = sp.Symbol("x", positive=True)
    f = 3 * x ** 2 + 1
    fitted = sp.lambdify(x, f, "numpy")
    grid = np.linspace(0.5, 2, 7)
    as_fitted = {"none": f, "log": sp.log(f), "inverse": 1 / f}[name]
    assert np.allclose(fwd(fitted(grid)), sp.lambdify(x, as_fitted, "numpy")(grid))
    assert sp.simplify(back(as_fitted) - f) == 0
