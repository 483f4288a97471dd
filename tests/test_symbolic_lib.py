"""The symbolic library: names, aliases, safe singularities, sympy agreement, extensions."""
import math

import pytest
import sympy as sp
import torch

from kanlab.symbolic_lib import add_symbolic, get_symbolic, in_domain, library_names, resolve_library

PYKAN_NAMES = ["x", "x^2", "x^3", "x^4", "x^5", "1/x", "1/x^2", "1/x^3", "1/x^4", "1/x^5", "sqrt", "x^0.5",
               "x^1.5", "1/sqrt(x)", "1/x^0.5", "exp", "log", "abs", "sin", "cos", "tan", "tanh", "sgn",
               "arcsin", "arccos", "arctan", "arctanh", "0", "gaussian"]


def test_library_has_pykan_names_plus_sigmoid_and_cosh() -> None:
    names = library_names()
    assert len(PYKAN_NAMES) == 29
    assert set(PYKAN_NAMES) <= set(names)
    assert {"sigmoid", "cosh"} <= set(names)
    assert get_symbolic("1/(1+exp(-x))").name == "sigmoid"
    assert get_symbolic("1 / (1 + exp(-x))").name == "sigmoid"


@pytest.mark.parametrize("name", PYKAN_NAMES + ["sigmoid", "cosh"])
def test_functions_and_gradients_are_finite_everywhere(name) -> None:
    entry = get_symbolic(name)
    x = torch.tensor([-1e3, -50.0, -math.pi / 2, -1.0, -1e-9, 0.0, 1e-9, 0.5, 1.0, math.pi / 2, 3.0, 50.0, 1e3],
                     dtype=torch.float64, requires_grad=True)
    y = entry(x)
    assert torch.isfinite(y).all(), f"{name}: {y}"
    (g,) = torch.autograd.grad(y.sum(), x)
    assert torch.isfinite(g).all(), f"{name} gradient: {g}"


@pytest.mark.parametrize("name", PYKAN_NAMES + ["sigmoid", "cosh"])
def test_sympy_matches_torch_inside_the_domain(name) -> None:
    entry = get_symbolic(name)
    u = torch.linspace(-3, 3, 61, dtype=torch.float64)
    u = u[in_domain(entry, u, 1e-2)]
    x = sp.Symbol("x")
    f = sp.lambdify(x, entry.sympy_fn(x), modules="numpy")
    expected = torch.as_tensor(f(u.numpy()) * torch.ones_like(u).numpy())
    assert torch.allclose(entry(u), expected, rtol=1e-9, atol=1e-9)


def test_unknown_names_raise_clear_errors() -> None:
    with pytest.raises(ValueError, match="unknown symbolic function 'sine'"):
        get_symbolic("sine")
    with pytest.raises(ValueError, match="depend on x only"):
        get_symbolic("x*y")
    with pytest.raises(ValueError, match="unknown symbolic function"):
        get_symbolic(3)
    with pytest.raises(ValueError, match="lib is empty"):
        resolve_library([])


def test_sympy_expression_strings_are_library_entries() -> None:
    entry = get_symbolic("x*exp(-x)")
    u = torch.linspace(-1, 2, 7, dtype=torch.float64)
    assert torch.allclose(entry(u), u * torch.exp(-u))
    assert sp.simplify(entry.sympy_fn(sp.Symbol("t")) - sp.Symbol("t") * sp.exp(-sp.Symbol("t"))) == 0
    assert get_symbolic("x*exp(-x)") is entry  # parsed once


def test_add_symbolic_registers_a_function() -> None:
    entry = add_symbolic("J0", torch.special.bessel_j0, lambda x: sp.besselj(0, x), 3)
    assert "J0" in library_names() and get_symbolic("J0") is entry
    u = torch.linspace(0, 5, 11, dtype=torch.float64)
    assert torch.allclose(entry(u), torch.special.bessel_j0(u))
    with pytest.raises(ValueError, match="complexity"):
        add_symbolic("bad", torch.sin, sp.sin, -1)
