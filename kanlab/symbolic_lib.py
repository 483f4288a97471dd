"""The symbolic function library: torch function, sympy function, complexity and domain per name.

Every entry is a univariate function ``f`` that symbolic edges use as ``c * f(a * x + b) + d``.
The torch functions are *safe*: at singularities (``1/x`` at 0, ``log`` at 0 and below, ``sqrt``
below 0, ``tan`` at ±pi/2, ``arcsin`` outside [-1, 1], ...) they clamp their argument into the
domain, so no NaN or Inf reaches training. Each entry also records its domain, so the affine fit
(:mod:`kanlab.symbolic`) only accepts parameters that keep the data inside it; the sympy formula is
then exact on the data.

Names: pykan's 29 (``x, x^2 .. x^5, 1/x .. 1/x^5, sqrt, x^0.5, x^1.5, 1/sqrt(x), 1/x^0.5, exp, log,
abs, sin, cos, tan, tanh, sgn, arcsin, arccos, arctan, arctanh, 0, gaussian``) plus ``sigmoid``
(also spelled ``1/(1+exp(-x))``) and ``cosh``. :func:`add_symbolic` registers more (pykan's
signature), :data:`SYMBOLIC_LIB` is pykan's name for the library (a live read-only mapping), and an
expression string in ``x`` (``"x*exp(-x)"``, ``"x^2 + erf(x)"``) is accepted wherever a name is: it
is parsed once and lambdified to torch.

Torch functions autograd cannot differentiate (``torch.special.bessel_j0`` returns a tensor without
a gradient) get central-difference derivatives when their entry is built, so the affine fit's
Levenberg-Marquardt steps and training through such an edge (its ``a, b`` and the layers before it)
work as for any other function.

Expression strings are data, never code (checkpoints store them): :func:`parse_expression` reads them
with Python's ``ast`` and builds the sympy expression itself from numbers, ``x``, ``pi``, ``E``,
``+ - * / ** ^``, unary signs and calls of the functions in :data:`EXPRESSION_FUNCTIONS`; anything
else (other names, attributes, lambdas, strings, keywords, subscripts) is refused with ``ValueError``.
``sympy.sympify`` (which runs ``eval``) is never called.
"""
from __future__ import annotations

import ast
import math
from dataclasses import dataclass
from typing import (TYPE_CHECKING, Any, Callable, Dict, Iterable, Iterator, List, Mapping, Optional, Sequence,
                    Tuple, Union)

import torch
from torch.autograd.function import once_differentiable

from .validation import is_real

if TYPE_CHECKING:  # pragma: no cover
    import sympy

TorchFn = Callable[[torch.Tensor], torch.Tensor]

_EPS = 1e-4  # how close to a singularity the safe functions go
_EXP_MAX = 40.0  # exp/cosh arguments are clamped here (exp(40) ~ 2e17, finite in float32)
_Y_TH = 1000.0  # the threshold pykan-style fun_singularity(x, y_th) is called with (pykan's fit default)


class _CentralDifference(torch.autograd.Function):
    """``fn(x)`` whose derivative is the central difference ``(fn(x + h) - fn(x - h)) / 2h``,
    ``h = eps^(1/3) (1 + |x|)``: for elementwise torch functions autograd cannot differentiate."""

    @staticmethod
    def forward(ctx: Any, x: torch.Tensor, fn: TorchFn) -> torch.Tensor:  # type: ignore[override]
        ctx.fn = fn
        ctx.save_for_backward(x)
        return fn(x)

    @staticmethod
    @once_differentiable
    def backward(ctx: Any, grad: torch.Tensor) -> Tuple[torch.Tensor, None]:  # type: ignore[override]
        (x,) = ctx.saved_tensors
        h = torch.finfo(x.dtype).eps ** (1 / 3) * (1 + x.abs())
        return grad * (ctx.fn(x + h) - ctx.fn(x - h)) / (2 * h), None


def _has_autograd(fn: TorchFn) -> bool:
    """Whether autograd differentiates ``fn`` (probed on three float64 points inside every built-in's domain)."""
    try:
        with torch.inference_mode(False), torch.enable_grad():  # entries may be built under either
            x = torch.tensor([0.25, 0.5, 0.75], dtype=torch.float64, requires_grad=True)
            y = fn(x)
            if not (isinstance(y, torch.Tensor) and y.requires_grad):
                return False
            torch.autograd.grad(y.sum(), x)
    except RuntimeError:  # "derivative ... is not implemented", numpy() on a tensor that requires grad, ...
        return False
    return True


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
        parity: 1 for even functions, -1 for odd ones, 0 otherwise; the fit then searches and
            reports ``a > 0`` only (:func:`add_symbolic` measures it).
        valid_fn: optional ``u -> bool mask`` of points where the function is defined (sympy
            string and :func:`add_symbolic` entries: where the raw function is finite).

    A ``torch_fn`` without an autograd derivative is replaced by the same function with a
    central-difference derivative when the entry is built. An entry unpacks and indexes like
    pykan's library tuple ``(fun, fun_sympy, complexity, fun_singularity)``.
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

    def __post_init__(self) -> None:
        if not _has_autograd(self.torch_fn):
            fn = self.torch_fn
            object.__setattr__(self, "torch_fn", lambda x: _CentralDifference.apply(x, fn))

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return self.torch_fn(x)

    def __iter__(self) -> Iterator[Any]:
        """pykan's ``(fun, fun_sympy, complexity, fun_singularity)``; ``fun_singularity(x, y_th)``
        returns ``((), fun(x))`` (kanlab's ``fun`` is already safe at singularities)."""
        fn = self.torch_fn
        return iter((fn, self.sympy_fn, self.complexity, lambda x, y_th=None: ((), fn(x))))

    def __getitem__(self, k: int) -> Any:
        return tuple(self)[k]

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


class _LibraryView(Mapping[str, SymbolicFunction]):
    """pykan's ``SYMBOLIC_LIB``: the library by name, live (names :func:`add_symbolic` registers
    appear) and read-only; each value is a :class:`SymbolicFunction` (pykan's tuple when unpacked)."""

    def __getitem__(self, name: str) -> SymbolicFunction:
        return _library()[name]

    def __iter__(self) -> Iterator[str]:
        return iter(list(_library()))

    def __len__(self) -> int:
        return len(_library())

    def __setitem__(self, name: str, value: object) -> None:
        raise TypeError(f"SYMBOLIC_LIB is read-only: register {name!r} with add_symbolic(name, fun, c)")

    def __repr__(self) -> str:
        return f"SYMBOLIC_LIB({library_names()})"


SYMBOLIC_LIB: Mapping[str, SymbolicFunction] = _LibraryView()
"""pykan's name for the library: ``SYMBOLIC_LIB.keys()``, ``'sin' in SYMBOLIC_LIB``, ``SYMBOLIC_LIB['sin']``."""


def _guarded(raw: TorchFn, defined: TorchFn) -> Tuple[TorchFn, Callable[[torch.Tensor], torch.Tensor]]:
    """``(torch_fn, valid_fn)``: ``raw`` with NaN -> 0 and +-Inf -> +-1e8, and the mask of points
    where ``defined`` is finite."""
    def torch_fn(t: torch.Tensor) -> torch.Tensor:
        return torch.nan_to_num(raw(t), nan=0.0, posinf=1e8, neginf=-1e8)

    def valid_fn(t: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            return torch.isfinite(defined(t))

    return torch_fn, valid_fn


def _infer_sympy(name: str, fun: TorchFn) -> Callable:
    """The sympy form of ``fun``: ``name`` read as an expression in ``x`` (``'x*exp(-x)'``) or as a
    function of ``x`` (``'sinh'``, ``'erf'``) when that agrees with ``fun`` to 1e-6 on [-2, 2];
    otherwise an undefined sympy function named ``name`` (``J0(2*x + 1)`` in formulas)."""
    import sympy as sp

    u = torch.linspace(-2, 2, 41, dtype=torch.float64) + 0.0123  # no integers: poles and kinks sit there
    with torch.no_grad():
        want = fun(u)
    for text in (name, f"{name}(x)"):
        try:
            expr = parse_expression(text)
            got = _torch_of(expr)(u)
        except (ValueError, TypeError, RuntimeError):  # not an expression, or one torch cannot evaluate
            continue
        same = torch.isfinite(got) == torch.isfinite(want)
        both = torch.isfinite(got) & torch.isfinite(want)
        if bool(same.all()) and int(both.sum()) >= 10 and torch.allclose(got[both], want[both], rtol=1e-6, atol=1e-9):
            return lambda e, expr=expr: expr.subs(sp.Symbol("x"), e)
    return sp.Function(name)


def _parity(fun: TorchFn) -> int:
    """1 if ``fun`` is even, -1 if odd, 0 otherwise (or if unsure), measured on +-[0.1, 3]."""
    u = torch.linspace(0.1, 3, 30, dtype=torch.float64)
    with torch.no_grad():
        pos, neg = fun(u), fun(-u)
    for sign in (1, -1):
        if bool(torch.isfinite(pos).all()) and torch.allclose(neg, sign * pos, rtol=1e-9, atol=1e-12):
            return sign
    return 0


def add_symbolic(name: str, fun: TorchFn, c: Union[float, Callable] = 1,
                 fun_singularity: Union[Callable, float, None] = None,
                 domain: Tuple[Optional[float], Optional[float]] = (None, None)) -> SymbolicFunction:
    """Register ``name`` in the library (replacing an entry of that name) and return its entry.

    pykan's form ``add_symbolic(name, fun, c=1, fun_singularity=None)``:

    Args:
        name: the library name, e.g. ``'J0'``.
        fun: elementwise torch function, e.g. ``torch.special.bessel_j0``. Points where it is not
            finite count as outside its domain (the fit keeps the data away from them); edges see
            NaN as 0 and +-Inf as +-1e8. Without an autograd derivative it gets a central-difference one.
        c: complexity for ranking (pykan's scale: ``x`` 1, ``sin`` 2, ``tan`` 3).
        fun_singularity: pykan's singularity-safe form ``(x, y_th) -> (anything, values)``; when
            given, edges and fits evaluate it (``y_th = 1000``, pykan's ``fit`` default) instead of
            ``fun``, whose finite points still define the domain.
        domain: open interval ``(lo, hi)`` the fit keeps ``a * x + b`` in (``None``: unbounded).

    The sympy form is inferred from ``name`` when ``name`` is an expression in ``x`` or a sympy
    function name that agrees with ``fun`` (``'sinh'`` with ``torch.sinh``); otherwise it is an
    undefined sympy function named ``name`` (pykan's choice: ``J0(2*x_1 + 1)`` in formulas, which
    :meth:`~kanlab.formula.SymbolicFormula.to_python` evaluates with ``fun``).

    kanlab's form ``add_symbolic(name, torch_fn, sympy_fn, complexity=2, domain)`` (a callable third
    argument: the sympy function of one sympy expression) still works; ``torch_fn`` is used as given.
    In both forms an even or odd ``fun`` is recognised (``parity``), which halves the fit's search.

    Raises ``ValueError`` for an empty name or a negative complexity, ``TypeError`` for a
    ``fun`` that is not callable or does not map a float64 tensor to a tensor of its shape.
    """
    if not isinstance(name, str) or not name.strip():
        raise ValueError(f"symbolic name must be a non-empty string, got {name!r}")
    if not callable(fun):
        raise TypeError(f"add_symbolic({name!r}, fun): fun must be a callable torch function, got {fun!r}")
    legacy = callable(c)
    complexity = (2 if fun_singularity is None else fun_singularity) if legacy else c
    if not is_real(complexity) or not 0 <= complexity < math.inf:  # type: ignore[operator]
        raise ValueError(f"complexity must be a non-negative number, got {complexity!r}")
    if not legacy and fun_singularity is not None and not callable(fun_singularity):
        raise TypeError(f"fun_singularity must be a callable (x, y_th) -> (anything, values) or None, "
                        f"got {fun_singularity!r}")
    probe = torch.linspace(-0.9, 0.9, 7, dtype=torch.float64)
    try:
        with torch.no_grad():
            out = fun(probe)
    except Exception as err:  # noqa: BLE001 -- whatever the user's function raises: say where
        raise TypeError(f"add_symbolic({name!r}): fun failed on a float64 tensor: {type(err).__name__}: {err}") from err
    if not isinstance(out, torch.Tensor) or out.shape != probe.shape:
        raise TypeError(f"add_symbolic({name!r}): fun must map a tensor elementwise to a tensor of the same shape, "
                        f"got {type(out).__name__} {tuple(getattr(out, 'shape', ()))} for shape {tuple(probe.shape)}")
    if legacy:
        torch_fn, sympy_fn, valid_fn = fun, c, None
    else:
        raw = fun if fun_singularity is None else (lambda t: fun_singularity(t, torch.tensor(_Y_TH))[1])
        (torch_fn, valid_fn), sympy_fn = _guarded(raw, fun), _infer_sympy(name, fun)
    entry = SymbolicFunction(name, torch_fn, sympy_fn, float(complexity), tuple(domain),  # type: ignore[arg-type]
                             parity=_parity(fun), valid_fn=valid_fn)
    _library()[name] = entry
    return entry


EXPRESSION_FUNCTIONS = (
    "sin", "cos", "tan", "asin", "acos", "atan", "arcsin", "arccos", "arctan", "sinh", "cosh", "tanh",
    "asinh", "acosh", "atanh", "arcsinh", "arccosh", "arctanh", "exp", "log", "ln", "sqrt", "cbrt",
    "abs", "Abs", "sign", "erf", "loggamma", "floor", "ceiling",
)
"""Function names an expression string may call (those sympy's torch printer supports)."""

_MAX_EXPRESSION_CHARS = 200
_MAX_EXPONENT = 1000  # |numeric exponent|; also bounds exact powers such as 10**10**10 (below)
_MAX_EXACT_BITS = 10_000


def _sympy_tables() -> Tuple[Dict[str, Callable], Dict[str, object]]:
    """``(functions, constants)`` an expression string may use, as sympy objects."""
    import sympy as sp

    aliases = {"arcsin": "asin", "arccos": "acos", "arctan": "atan", "arcsinh": "asinh", "arccosh": "acosh",
               "arctanh": "atanh", "ln": "log", "abs": "Abs"}
    funcs = {name: getattr(sp, aliases.get(name, name)) for name in EXPRESSION_FUNCTIONS}
    return funcs, {"x": sp.Symbol("x"), "pi": sp.pi, "E": sp.E}


def _power(base: "sympy.Expr", exponent: "sympy.Expr") -> "sympy.Expr":
    """``base ** exponent``, refusing numeric exponents that would make sympy compute huge exact numbers."""
    if exponent.is_Number:
        if abs(exponent) > _MAX_EXPONENT:
            raise ValueError(f"exponent {exponent} is too large (at most {_MAX_EXPONENT} in magnitude)")
        if base.is_Rational:
            bits = max(abs(base.p).bit_length(), base.q.bit_length())
            if bits * abs(exponent) > _MAX_EXACT_BITS:
                raise ValueError(f"{base}**{exponent} is too large an exact number")
    return base ** exponent


def parse_expression(text: str) -> "sympy.Expr":
    """The sympy expression of ``text`` (``^`` means ``**``), built node by node from Python's ``ast``.

    Accepts int/float literals, the names ``x``, ``pi``, ``E``, binary ``+ - * / **``, unary ``+ -``
    and calls (positional arguments only) of :data:`EXPRESSION_FUNCTIONS`. Raises ``ValueError``
    naming the first refused part for anything else; nothing in ``text`` is evaluated as Python.
    """
    import sympy as sp

    if len(text) > _MAX_EXPRESSION_CHARS:
        raise ValueError(f"{_unknown_message(text[:40] + '...')} (an expression may have at most "
                         f"{_MAX_EXPRESSION_CHARS} characters, got {len(text)})")
    try:
        tree = ast.parse(text.replace("^", "**"), mode="eval")
    except (SyntaxError, ValueError, MemoryError, RecursionError) as err:  # ValueError: NUL bytes
        raise ValueError(f"{_unknown_message(text)} (not an expression: {err})") from err
    funcs, constants = _sympy_tables()
    binary = {ast.Add: lambda a, b: a + b, ast.Sub: lambda a, b: a - b, ast.Mult: lambda a, b: a * b,
              ast.Div: lambda a, b: a / b, ast.Pow: _power}

    def build(node: ast.AST) -> "sp.Expr":
        if isinstance(node, ast.Constant) and type(node.value) in (int, float):
            return sp.Integer(node.value) if isinstance(node.value, int) else sp.Float(node.value)
        if isinstance(node, ast.Name) and node.id in constants:
            return constants[node.id]  # type: ignore[return-value]
        if isinstance(node, ast.Name):
            raise ValueError(f"{node.id!r} is not x, pi, E or an allowed function: an expression must depend "
                             "on x only")
        if isinstance(node, ast.BinOp) and type(node.op) in binary:
            return binary[type(node.op)](build(node.left), build(node.right))
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
            value = build(node.operand)
            return -value if isinstance(node.op, ast.USub) else value
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in funcs
                and not node.keywords and not any(isinstance(a, ast.Starred) for a in node.args)):
            return funcs[node.func.id](*(build(a) for a in node.args))
        raise ValueError(f"{type(node).__name__} {ast.unparse(node)!r} is not allowed")

    try:
        expr = build(tree.body)
    except ValueError as err:
        raise ValueError(f"{_unknown_message(text)} ({err})") from err
    except Exception as err:  # noqa: BLE001 -- sympy rejecting the pieces (wrong arity, recursion) means "not usable"
        raise ValueError(f"{_unknown_message(text)} (sympy cannot build it: {type(err).__name__}: {err})") from err
    if not isinstance(expr, sp.Expr) or expr.has(sp.I, sp.zoo, sp.oo, -sp.oo, sp.nan):
        raise ValueError(f"{_unknown_message(text)} (it must be a finite real expression, got {expr})")
    return expr


def _torch_of(expr: "sympy.Expr") -> TorchFn:
    """``expr`` (in the symbol ``x``) lambdified to torch; a constant becomes a tensor like its input."""
    import sympy as sp

    try:
        fn = sp.lambdify(sp.Symbol("x"), expr, modules="torch")
    except Exception as err:  # noqa: BLE001 -- any lambdify failure means "not usable"
        raise ValueError(f"cannot turn {expr} into a torch function: {err}") from err

    def raw(t: torch.Tensor) -> torch.Tensor:
        out = fn(t)
        return out if isinstance(out, torch.Tensor) else torch.full_like(t, float(out))

    return raw


def _parse_expression(text: str) -> SymbolicFunction:
    """An expression string in ``x`` (see :func:`parse_expression`) as a library entry (parsed once, cached)."""
    if text in _PARSED:
        return _PARSED[text]
    import sympy as sp

    x = sp.Symbol("x")
    expr = parse_expression(text)
    raw = _torch_of(expr)
    torch_fn, valid_fn = _guarded(raw, raw)
    entry = SymbolicFunction(text, torch_fn, lambda e: expr.subs(x, e), float(sp.count_ops(expr) + 1),
                             valid_fn=valid_fn)
    _PARSED[text] = entry
    return entry


def _unknown_message(name: object) -> str:
    return (f"unknown symbolic function {name!r}: use one of {library_names()}, a name registered "
            "with add_symbolic, or an expression string in x such as 'x*exp(-x)' made of numbers, x, pi, E, "
            f"+ - * / ** and calls of {', '.join(EXPRESSION_FUNCTIONS)}")


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
    if isinstance(lib, (str, SymbolicFunction)):
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
    "EXPRESSION_FUNCTIONS", "SYMBOLIC_LIB", "SymbolicFunction", "add_symbolic", "get_symbolic", "in_domain",
    "library_names", "parse_expression", "resolve_library",
]
