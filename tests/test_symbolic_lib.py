"""The symbolic library: names, aliases, safe singularities, sympy agreement, extensions."""
import math

import pytest
import sympy as sp
import torch

from kanlab import symbolic_lib
from kanlab.symbolic_lib import SYMBOLIC_LIB, add_symbolic, get_symbolic, in_domain, library_names, resolve_library

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


@pytest.fixture()
def scratch_library(monkeypatch):
    """Registrations in this test stay in this test (the library is process-wide)."""
    monkeypatch.setattr(symbolic_lib, "_LIBRARY", dict(symbolic_lib._library()))


def test_add_symbolic_registers_a_function(scratch_library) -> None:
    """kanlab's form: add_symbolic(name, torch_fn, sympy_fn, complexity)."""
    entry = add_symbolic("J0", torch.special.bessel_j0, lambda x: sp.besselj(0, x), 3)
    assert "J0" in library_names() and get_symbolic("J0") is entry
    u = torch.linspace(0, 5, 11, dtype=torch.float64)
    assert torch.allclose(entry(u), torch.special.bessel_j0(u))
    with pytest.raises(ValueError, match="complexity"):
        add_symbolic("bad", torch.sin, sp.sin, -1)


def test_symbolic_lib_is_pykans_view_of_the_library(scratch_library) -> None:
    from kanlab.utils import SYMBOLIC_LIB as from_utils

    assert from_utils is SYMBOLIC_LIB
    assert set(PYKAN_NAMES) <= set(SYMBOLIC_LIB.keys()) and "sin" in SYMBOLIC_LIB and "sine" not in SYMBOLIC_LIB
    assert list(SYMBOLIC_LIB) == library_names() and len(SYMBOLIC_LIB) == len(library_names())
    fun, fun_sympy, complexity, fun_singularity = SYMBOLIC_LIB["sin"]  # pykan's tuple
    u = torch.linspace(-1, 1, 5)
    assert torch.equal(fun(u), torch.sin(u)) and fun_sympy(sp.Symbol("t")) == sp.sin(sp.Symbol("t"))
    assert complexity == 2 == SYMBOLIC_LIB["sin"][2] and torch.equal(fun_singularity(u, 10.0)[1], torch.sin(u))
    with pytest.raises(KeyError):
        SYMBOLIC_LIB["Bessel"]
    with pytest.raises(TypeError, match="read-only.*add_symbolic"):
        SYMBOLIC_LIB["Bessel"] = SYMBOLIC_LIB["sin"]
    add_symbolic("Bessel", torch.special.bessel_j0)
    assert "Bessel" in SYMBOLIC_LIB and "Bessel" in repr(SYMBOLIC_LIB)  # live


def test_pykan_add_symbolic_without_a_sympy_form(scratch_library) -> None:
    """pykan's form: no sympy form for bessel_j0, so the formula shows J0(...); complexity c;
    central-difference derivatives where autograd has none; evenness detected."""
    from kanlab.utils import add_symbolic as from_utils

    entry = from_utils("J0", torch.special.bessel_j0)
    t = sp.Symbol("t")
    assert str(entry.sympy_fn(2 * t + 1)) == "J0(2*t + 1)" and entry.complexity == 1 and entry.parity == 1
    assert get_symbolic("J0") is entry and add_symbolic("J0", torch.special.bessel_j0, c=4).complexity == 4
    u = torch.linspace(-3, 4.5, 16, dtype=torch.float64, requires_grad=True)  # torch's J0 jumps by 4e-7 at 5
    (grad,) = torch.autograd.grad(get_symbolic("J0")(u).sum(), u)
    torch.testing.assert_close(grad, -torch.special.bessel_j1(u.detach()), rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("name, fun, expected", [
    ("sinh", torch.sinh, lambda t: sp.sinh(t)),  # a sympy function name that agrees with fun
    ("x*exp(-x)", lambda x: x * torch.exp(-x), lambda t: t * sp.exp(-t)),  # an expression in x
    ("sinh", torch.cosh, lambda t: sp.Function("sinh")(t)),  # a name that disagrees: not trusted
    ("Logit", torch.special.logit, lambda t: sp.Function("Logit")(t)),
])
def test_add_symbolic_infers_the_sympy_form_from_the_name(scratch_library, name, fun, expected) -> None:
    t = sp.Symbol("t")
    assert add_symbolic(name, fun, c=3).sympy_fn(t) == expected(t)


def test_add_symbolic_guards_singularities(scratch_library) -> None:
    """Points where fun is not finite are outside the domain; edges see finite values; pykan's
    fun_singularity(x, y_th) replaces fun in torch when given."""
    inv = add_symbolic("inv", lambda x: 1 / x, c=2)
    u = torch.tensor([-1.0, 0.0, 2.0], dtype=torch.float64)
    assert in_domain(inv, u).tolist() == [True, False, True] and torch.isfinite(inv(u)).all()
    assert inv.parity == -1
    soft = add_symbolic("inv_soft", lambda x: 1 / x, 2, lambda x, y_th: ((), (1 / x).clamp(-y_th, y_th)))
    assert soft(u).tolist() == [-1.0, 1000.0, 0.5] and in_domain(soft, u).tolist() == [True, False, True]


def test_add_symbolic_refuses_bad_input(scratch_library) -> None:
    with pytest.raises(ValueError, match="non-empty string"):
        add_symbolic("", torch.sin)
    with pytest.raises(TypeError, match="must be a callable"):
        add_symbolic("f", "sin")
    with pytest.raises(TypeError, match="same shape"):
        add_symbolic("f", lambda x: x.sum())
    with pytest.raises(TypeError, match="failed on a float64 tensor"):
        add_symbolic("f", lambda x: x.numpy().undefined)
    for c in (-1, True, float("nan"), "2"):
        with pytest.raises(ValueError, match="complexity"):
            add_symbolic("f", torch.sin, c=c)
    with pytest.raises(TypeError, match="fun_singularity"):
        add_symbolic("f", torch.sin, 2, 3)
    assert "f" not in SYMBOLIC_LIB


def test_differentiable_functions_keep_autograd_even_when_registered_without_grad(scratch_library) -> None:
    """The autograd probe must not mistake inference mode for a missing derivative (that would give
    every entry built there, built-ins included, approximate central differences)."""
    with torch.inference_mode():
        cube = add_symbolic("cube", lambda x: x ** 3)
        symbolic_lib._LIBRARY.clear()  # the built-ins are rebuilt here, lazily
        sin = get_symbolic("sin")
    assert sin.torch_fn is torch.sin
    u = torch.linspace(-2, 2, 9, dtype=torch.float64, requires_grad=True)
    (grad,) = torch.autograd.grad(cube(u).sum(), u)
    torch.testing.assert_close(grad, 3 * u.detach() ** 2, rtol=1e-15, atol=0)
