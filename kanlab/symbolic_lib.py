"""The symbolic function library: torch function, sympy function, complexity and domain per name.

Every entry is a univariate function ``f`` that symbolic edges use as ``c * f(a * x + b) + d``.
The torch functions are *safe*: at singularities (``1/x`` at 0, ``log`` at 0 and below, ``sqrt``
below 0, ``tan`` at ±pi/2, ``arcsin`` outside [-1, 1], ...) they clamp their argument into the
domain, so no NaN or Inf reaches training. Each entry also records its domain, so the affine fit
(:mod:`kanlab.symbolic`) only accepts parameters that keep the data inside it; the sympy formula is
then exact on the data.

Names: pykan's 29 (``x, x^2 .. x^5, 1/x .. 1/x^5, sqrt, x^0.5, x^1.5, 1/sqrt(x), 1/x^0.5, exp, log,
abs, sin, cos, tan, tanh, sgn, arcsin, arccos, arctan, arctanh, 0, gaussian``) plus ``sigmoid``
(also spelled ``1/(1+exp(-x))``) and ``cosh``. :func:`add_symbolic` registers more, and any
univariate sympy expression string in ``x`` (``"x*exp(-x)"``, ``"besselj(0, x)"``) is accepted
wherever a name is: it is parsed once and lambdified to torch.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Dict, Iterable, List, Optional, Sequence, Tuple, Union

import torch

TorchFn = Callable[[torch.Tensor], torch.Tensor]

_EPS = 1e-4  # how close to a singularity the safe functions go
_EXP_MAX = 40.0  # exp/cosh arguments are clamped here (exp(40) ~ 2e17, finite in float32)


@dataclass(frozen=True)
class SymbolicFunction:
    """One library entry.

    Attributes:
        name: the library name (``'sin'``, ``'x^2'``, or a sympy string).
        torch_fn: safe elementwise torch function, ``(...) -> (...)``.
        sympy_fn: sympy function of one sympy expression.
        complexity: cost used when ranking candidates (pykan's scale: x = 1, sin = 2, tan = 3).
        domain: open interval ``(lo, hi)`` where the function is finite and exact; ``None`` ends
            are unbounded. The affine fit keeps every ``a * x + b`` inside it.
        poles: points inside the domain where the function is singular (``1/x``: 0); the affine
            fit keeps ``a * x + b`` away from them.
        degree: ``p`` if ``f(s * u) = s**p * f(u)`` for ``s > 0`` (powers, ``abs``, ``sgn``); the
            fit then reports ``|a| = 1`` with the scale moved into ``c`` (readable formulas).
        parity: 1 for even functions, -1 for odd ones, 0 otherwise; the fit then reports ``a > 0``.
        valid_fn: optional ``u -> bool mask`` of points where the function is defined (sympy
            string entries: where the raw expression is finite).
    """

    name: str
    torch_fn: TorchFn
    sympy_fn: Callable
    complexity: float
    domain: Tuple[Optional[float], Optional[float]] = (None, None)
    poles: Tuple[float, ...] = ()
    degree: Optional[float] = None
    parity: int = 0
    valid_fn: Optional[Callable[[torch.Tensor], torch.Tensor]] = None

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return self.torch_fn(x)

    @property
    def uses_inner_affine(self) -> bool:
        """False for ``x`` and ``0``, whose inner ``a, b`` are redundant with ``c, d``."""
        return self.name not in ("x", "0")


def _away_from_zero(x: torch.Tensor) -> torch.Tensor:
    """``x`` with ``|x| >= eps`` (sign kept, 0 goes to +eps): safe denominator."""
    sign = torch.where(x >= 0, torch.ones_like(x), -torch.ones_like(x))
    return torch.where(x.abs() < _EPS, sign * _EPS, x)


def _pos(x: torch.Tensor) -> torch.Tensor:
    return x.clamp(min=_EPS)


def _unit(x: torch.Tensor) -> torch.Tensor:
    return x.clamp(-1 + _EPS, 1 - _EPS)


def _half_pi(x: torch.Tensor) -> torch.Tensor:
    return x.clamp(-math.pi / 2 + _EPS, math.pi / 2 - _EPS)


def _builtins() -> Dict[str, SymbolicFunction]:
    import sympy as sp

    pos, unit, half = (0.0, None), (-1.0, 1.0), (-math.pi / 2, math.pi / 2)
    table: List[Tuple[str, TorchFn, Callable, float, Tuple[Optional[float], Optional[float]]]] = [
        ("x", lambda x: x, lambda x: x, 1, (None, None)),
        ("x^2", lambda x: x ** 2, lambda x: x ** 2, 2, (None, None)),
        ("x^3", lambda x: x ** 3, lambda x: x ** 3, 3, (None, None)),
        ("x^4", lambda x: x ** 4, lambda x: x ** 4, 3, (None, None)),
        ("x^5", lambda x: x ** 5, lambda x: x ** 5, 3, (None, None)),
        ("1/x", lambda x: 1 / _away_from_zero(x), lambda x: 1 / x, 2, (None, None)),
        ("1/x^2", lambda x: 1 / _away_from_zero(x) ** 2, lambda x: x ** -2, 2, (None, None)),
        ("1/x^3", lambda x: 1 / _away_from_zero(x) ** 3, lambda x: x ** -3, 3, (None, None)),
        ("1/x^4", lambda x: 1 / _away_from_zero(x) ** 4, lambda x: x ** -4, 4, (None, None)),
        ("1/x^5", lambda x: 1 / _away_from_zero(x) ** 5, lambda x: x ** -5, 5, (None, None)),
        ("sqrt", lambda x: torch.sqrt(_pos(x)), sp.sqrt, 2, pos),
        ("x^0.5", lambda x: torch.sqrt(_pos(x)), sp.sqrt, 2, pos),
        ("x^1.5", lambda x: _pos(x) ** 1.5, lambda x: x ** sp.Rational(3, 2), 4, pos),
        ("1/sqrt(x)", lambda x: torch.rsqrt(_pos(x)), lambda x: 1 / sp.sqrt(x), 2, pos),
        ("1/x^0.5", lambda x: torch.rsqrt(_pos(x)), lambda x: 1 / sp.sqrt(x), 2, pos),
        ("exp", lambda x: torch.exp(x.clamp(max=_EXP_MAX)), sp.exp, 2, (None, _EXP_MAX)),
        ("log", lambda x: torch.log(_pos(x)), sp.log, 2, pos),
        ("abs", torch.abs, sp.Abs, 3, (None, None)),
        ("sin", torch.sin, sp.sin, 2, (None, None)),
        ("cos", torch.cos, sp.cos, 2, (None, None)),
        ("tan", lambda x: torch.tan(_half_pi(x)), sp.tan, 3, half),
        ("tanh", torch.tanh, sp.tanh, 3, (None, None)),
        ("sgn", torch.sign, sp.sign, 3, (None, None)),
        ("arcsin", lambda x: torch.arcsin(_unit(x)), sp.asin, 4, unit),
        ("arccos", lambda x: torch.arccos(_unit(x)), sp.acos, 4, unit),
        ("arctan", torch.arctan, sp.atan, 4, (None, None)),
        ("arctanh", lambda x: torch.arctanh(_unit(x)), sp.atanh, 4, unit),
        ("0", lambda x: x * 0, lambda x: sp.Integer(0), 0, (None, None)),
        ("gaussian", lambda x: torch.exp(-x ** 2), lambda x: sp.exp(-x ** 2), 3, (None, None)),
        ("sigmoid", torch.sigmoid, lambda x: 1 / (1 + sp.exp(-x)), 3, (None, None)),
        ("cosh", lambda x: torch.cosh(x.clamp(-_EXP_MAX, _EXP_MAX)), sp.cosh, 4, (-_EXP_MAX, _EXP_MAX)),
    ]
    degrees = {"x": 1, "x^2": 2, "x^3": 3, "x^4": 4, "x^5": 5, "1/x": -1, "1/x^2": -2, "1/x^3": -3,
               "1/x^4": -4, "1/x^5": -5, "sqrt": 0.5, "x^0.5": 0.5, "x^1.5": 1.5, "1/sqrt(x)": -0.5,
               "1/x^0.5": -0.5, "abs": 1, "sgn": 0}
    even = {"x^2", "x^4", "1/x^2", "1/x^4", "abs", "gaussian", "cosh", "cos"}
    odd = {"x", "x^3", "x^5", "1/x", "1/x^3", "1/x^5", "sin", "tan", "tanh", "sgn", "arcsin", "arctan", "arctanh"}
    return {name: SymbolicFunction(name, t, s, c, d, (0.0,) if name.startswith("1/x") else (), degrees.get(name),
                                   1 if name in even else -1 if name in odd else 0)
            for name, t, s, c, d in table}


_LIBRARY: Dict[str, SymbolicFunction] = {}
_ALIASES = {"1/(1+exp(-x))": "sigmoid", "x^1": "x", "sign": "sgn", "tanh(x)": "tanh"}
_PARSED: Dict[str, SymbolicFunction] = {}


def _library() -> Dict[str, SymbolicFunction]:
    if not _LIBRARY:
        _LIBRARY.update(_builtins())
    return _LIBRARY


def library_names() -> List[str]:
    """Every registered name (built-ins first, then :func:`add_symbolic` additions)."""
    return list(_library())


def add_symbolic(name: str, torch_fn: TorchFn, sympy_fn: Callable, complexity: float = 2,
                 domain: Tuple[Optional[float], Optional[float]] = (None, None)) -> SymbolicFunction:
    """Register ``name`` (e.g. ``'J0'``) with an elementwise torch function, its sympy
    counterpart (a function of one sympy expression) and a complexity. Replaces an existing entry
    of that name. ``torch_fn`` must be finite on ``domain``. Returns the entry."""
    if not isinstance(name, str) or not name:
        raise ValueError(f"symbolic name must be a non-empty string, got {name!r}")
    if not callable(torch_fn) or not callable(sympy_fn):
        raise TypeError("add_symbolic needs callables torch_fn and sympy_fn")
    if not isinstance(complexity, (int, float)) or complexity < 0:
        raise ValueError(f"complexity must be a non-negative number, got {complexity!r}")
    entry = SymbolicFunction(name, torch_fn, sympy_fn, float(complexity), tuple(domain))  # type: ignore[arg-type]
    _library()[name] = entry
    return entry


def _parse_expression(text: str) -> SymbolicFunction:
    """A univariate sympy expression string in ``x`` as a library entry (parsed once, cached)."""
    if text in _PARSED:
        return _PARSED[text]
    import sympy as sp

    x = sp.Symbol("x")
    try:
        expr = sp.sympify(text.replace("^", "**"), locals={"x": x})
    except (sp.SympifyError, SyntaxError, TypeError, AttributeError) as err:
        raise ValueError(_unknown_message(text)) from err
    if not isinstance(expr, sp.Expr) or expr.free_symbols - {x}:
        raise ValueError(_unknown_message(text) + f" (as an expression it must depend on x only, got {expr})")
    try:
        fn = sp.lambdify(x, expr, modules="torch")
    except Exception as err:  # noqa: BLE001 -- any lambdify failure means "not usable"
        raise ValueError(f"cannot turn {text!r} into a torch function: {err}") from err

    def raw(t: torch.Tensor) -> torch.Tensor:
        out = fn(t)
        if not isinstance(out, torch.Tensor):  # a constant expression
            out = torch.full_like(t, float(out))
        return out

    def torch_fn(t: torch.Tensor) -> torch.Tensor:
        return torch.nan_to_num(raw(t), nan=0.0, posinf=1e8, neginf=-1e8)

    def valid_fn(t: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            return torch.isfinite(raw(t))

    entry = SymbolicFunction(text, torch_fn, lambda e: expr.subs(x, e), float(sp.count_ops(expr) + 1),
                             valid_fn=valid_fn)
    _PARSED[text] = entry
    return entry


def _unknown_message(name: object) -> str:
    return (f"unknown symbolic function {name!r}: use one of {library_names()}, a name registered "
            "with add_symbolic, or a sympy expression string in x such as 'x*exp(-x)'")


def get_symbolic(name: Union[str, SymbolicFunction]) -> SymbolicFunction:
    """Resolve a library name, alias or sympy expression string to its entry.

    Raises ``ValueError`` naming the accepted names for anything else."""
    if isinstance(name, SymbolicFunction):
        return name
    if not isinstance(name, str):
        raise ValueError(_unknown_message(name))
    lib = _library()
    key = name.strip()
    key = _ALIASES.get(key.replace(" ", ""), key)
    if key in lib:
        return lib[key]
    return _parse_expression(key)


def resolve_library(lib: Optional[Iterable[Union[str, SymbolicFunction]]]) -> List[SymbolicFunction]:
    """``None`` -> every registered entry; otherwise each name resolved (duplicates dropped)."""
    if lib is None:
        return list(_library().values())
    if isinstance(lib, str):
        lib = [lib]
    out: Dict[str, SymbolicFunction] = {}
    for name in lib:
        entry = get_symbolic(name)
        out.setdefault(entry.name, entry)
    if not out:
        raise ValueError("lib is empty: give at least one symbolic function name")
    return list(out.values())


def in_domain(entry: SymbolicFunction, u: torch.Tensor, margin: float = 0.0) -> torch.Tensor:
    """Bool mask of ``u`` (any shape) inside ``entry.domain`` shrunk by ``margin``."""
    lo, hi = entry.domain
    ok = torch.ones_like(u, dtype=torch.bool)
    if lo is not None:
        ok &= u > lo + margin
    if hi is not None:
        ok &= u < hi - margin
    for pole in entry.poles:
        ok &= (u - pole).abs() > margin
    if entry.valid_fn is not None:
        ok &= entry.valid_fn(u)
    return ok


__all__: Sequence[str] = [
    "SymbolicFunction", "add_symbolic", "get_symbolic", "in_domain", "library_names", "resolve_library",
]
