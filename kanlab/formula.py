"""Formula extraction: compose a fully symbolic KAN into sympy expressions, one per output.

``symbolic_formula(model)`` returns a :class:`SymbolicFormula`, which unpacks like pykan's
``(formulas, variables)`` and adds ``to_python()`` (a numpy function of ``(n, n_in)`` inputs) and
``__call__``. :func:`ex_round` is pykan's rounding to decimals (``kanlab.utils.ex_round``).
"""
from __future__ import annotations

import warnings
from typing import Callable, Dict, List, Optional, Sequence, TYPE_CHECKING, Tuple

import numpy as np
import sympy as sp
import torch
from sympy.core.function import AppliedUndef

from .symbolic_lib import get_symbolic
from .timelimit import TimeLimitExceeded, check_seconds, time_limit
from .validation import check_int, user_stacklevel

if TYPE_CHECKING:  # pragma: no cover
    from .network import KANNetwork

_SIMPLIFY_MAX_OPS = 60  # sympy.simplify on larger expressions can take minutes


def _simplified(e: sp.Expr, timeout: Optional[float]) -> sp.Expr:
    """``sympy.simplify(e)``, or ``e`` with a warning when that takes over ``timeout`` seconds."""
    if timeout is None:
        return sp.simplify(e)
    try:
        with time_limit(timeout) as token:
            return sp.simplify(e)
    except TimeLimitExceeded as err:
        if err.token is not token:  # an outer limit: not ours to swallow
            raise
        warnings.warn(f"sympy.simplify took over {timeout:g} s; the formula is returned unsimplified "
                      "(pass simplify_timeout=None to wait)", RuntimeWarning, stacklevel=user_stacklevel())
        return e


class SymbolicFormula(tuple):
    """``(formulas, variables)``: sympy expressions per output and the input symbols."""

    def __new__(cls, formulas: List[sp.Expr], variables: List[sp.Symbol]) -> "SymbolicFormula":
        return super().__new__(cls, (list(formulas), list(variables)))

    @property
    def formulas(self) -> List[sp.Expr]:
        return self[0]

    @property
    def variables(self) -> List[sp.Symbol]:
        return self[1]

    def to_python(self) -> Callable[[np.ndarray], np.ndarray]:
        """A numpy function ``(n, n_in) -> (n, n_out)`` evaluating the formulas. Functions sympy
        does not know (``J0`` from ``add_symbolic('J0', torch.special.bessel_j0)``) are evaluated
        with their library entry's torch function; ``ValueError`` if one is not registered."""
        custom = {f.func.__name__: _numpy_of(f.func.__name__)
                  for e in self.formulas for f in e.atoms(AppliedUndef)}
        fns = [sp.lambdify(self.variables, f, modules=[custom, "numpy"]) for f in self.formulas]

        def evaluate(x: np.ndarray) -> np.ndarray:
            x = np.asarray(x, dtype=float)
            if x.ndim != 2 or x.shape[1] != len(self.variables):
                raise ValueError(f"x must have shape (n, {len(self.variables)}), got {x.shape}")
            cols = [np.broadcast_to(np.asarray(fn(*x.T), dtype=float), (x.shape[0],)) for fn in fns]
            return np.stack(cols, axis=1)

        return evaluate

    def __call__(self, x: np.ndarray) -> np.ndarray:
        return self.to_python()(x)

    def __str__(self) -> str:
        return "\n".join(str(f) for f in self.formulas)


def _numpy_of(name: str) -> Callable[[np.ndarray], np.ndarray]:
    """The library function ``name`` (an undefined sympy function in a formula) on numpy arrays."""
    try:
        fn = get_symbolic(name).torch_fn
    except ValueError as err:
        raise ValueError(f"the formula uses {name}(...), which is not in the symbolic library: register it "
                         f"with add_symbolic({name!r}, fun) to evaluate the formula") from err

    def evaluate(v: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            return fn(torch.as_tensor(np.asarray(v, dtype=float))).numpy()

    return evaluate


def _map_floats(expr: sp.Expr, fn: Callable[[float], sp.Expr]) -> sp.Expr:
    """``expr`` with every float ``f`` replaced by ``fn(float(f))``."""
    repl: Dict[sp.Float, sp.Expr] = {f: fn(float(f)) for f in expr.atoms(sp.Float)}
    return expr.xreplace(repl)


def round_floats(expr: sp.Expr, digits: Optional[int], zero_below: Optional[float] = None) -> sp.Expr:
    """Round every float in ``expr`` to ``digits`` significant digits (not decimals: a KAN's
    constants span many magnitudes, and 0.0008 kept to 4 decimals loses all but one digit;
    ``None``: keep all) and set floats smaller than ``zero_below`` in magnitude to 0; integral
    results become integers."""
    def rounded(v: float) -> sp.Expr:
        if zero_below is not None and abs(v) < zero_below:
            v = 0.0
        r = float(f"{v:.{max(digits, 1)}g}") if v != 0 and digits is not None else v
        return sp.Integer(int(r)) if r == int(r) else sp.Float(r, 15)

    return _map_floats(expr, rounded)


def ex_round(ex1: sp.Expr, n_digit: int) -> sp.Expr:
    """pykan's ``ex_round``: every float in ``ex1`` rounded to ``n_digit`` decimals (Python's
    ``round``; floats stay floats), e.g. ``ex_round(3.14159*exp(0.5*x) - 2.71828, 2)`` ->
    ``3.14*exp(0.5*x) - 2.72``. kanlab's own :func:`round_floats` keeps significant digits instead."""
    n_digit = check_int("n_digit", n_digit)
    if not isinstance(ex1, sp.Basic):
        raise TypeError(f"ex_round needs a sympy expression, got {type(ex1).__name__}")
    return _map_floats(ex1, lambda v: sp.Float(round(v, n_digit)))


def _nodes(model: KANNetwork, l: int, sub: List[sp.Expr]) -> List[sp.Expr]:
    """Node expressions of node layer ``l`` from its sub-node sums (see ``KAN.nodes``)."""
    n_sum, owner = model.n_sum(l), model.node_of_sub(l)
    return sub[:n_sum] + [sp.Mul(*[e for e, o in zip(sub, owner) if o == node])
                          for node in range(n_sum, model.width[l])]


def spline_edges(model: KANNetwork) -> List[Tuple[int, int, int]]:
    """``(l, i, j)`` of every switched-on edge that is still a spline (no formula for it yet), sorted."""
    return sorted((l, i, j) for l, layer in enumerate(model.layers) for j, i in layer.mask.nonzero().tolist())


def symbolic_formula(model: KANNetwork, var: Optional[Sequence[str]] = None, ex_round: Optional[int] = 4,
                     simplify: bool = True, zero_below: Optional[float] = None,
                     simplify_timeout: Optional[float] = 10.0, *, strict: bool = False) -> SymbolicFormula:
    """Compose the symbolic edges into one sympy expression per output.

    Args:
        var: input names (default ``x_1 .. x_n``); strings or sympy symbols.
        ex_round: significant digits kept in every constant (``None``: no rounding).
        simplify: run ``sympy.simplify`` on each (small enough) output expression.
        zero_below: constants smaller than this in magnitude become 0 (before and after
            simplifying), which drops the ~1e-6 residue terms and shifts a fit leaves, like pykan's
            rounding to decimals. It judges numbers, not their effect: check the formula on data
            (``.to_python()``). ``None`` (default): keep every constant.
        simplify_timeout: seconds ``sympy.simplify`` may take per output (it can run for many
            minutes on some expressions); past it the output stays unsimplified and a
            ``RuntimeWarning`` says so. Acts in the main thread on Unix only (see
            :func:`kanlab.timelimit.time_limit`); ``None``: no limit.
        strict: raise ``ValueError`` if an active edge is still a spline.

    A switched-on edge that is still a spline has no formula: as in pykan it counts as 0, so the
    result is the formula of the symbolic part only, and a ``UserWarning`` names those edges
    ``(l, i, j)`` (see :func:`spline_edges`); ``strict=True`` raises instead. Fix them with
    ``auto_symbolic``/``fix_symbolic`` or prune them first for a formula of the whole model.
    """
    check_seconds(simplify_timeout, "simplify_timeout")
    n_in = model.width[0]
    if var is None:
        variables = [sp.Symbol(f"x_{i + 1}") for i in range(n_in)]
    else:
        if len(var) != n_in:
            raise ValueError(f"var needs {n_in} names, got {len(var)}")
        variables = [v if isinstance(v, sp.Symbol) else sp.Symbol(str(v)) for v in var]
    splines = spline_edges(model)
    if splines:
        listed = f"{len(splines)} edge(s) (l, i, j) {splines[:8]}{' ...' if len(splines) > 8 else ''} are still splines"
        if strict:
            raise ValueError(f"{listed}; fix them with auto_symbolic/fix_symbolic or prune them first")
        warnings.warn(f"{listed} and count as 0 in the formula (pykan's convention): fix them with "
                      "auto_symbolic/fix_symbolic or prune them first, or pass strict=True to raise",
                      UserWarning, stacklevel=user_stacklevel())
    exprs: List[sp.Expr] = list(variables)
    for l, sym in enumerate(model.symbolic):
        p = sym.affine.detach().double().cpu().numpy()
        nxt: List[sp.Expr] = []
        for j in range(sym.out_dim):
            total: sp.Expr = sp.Integer(0)
            for i in range(sym.in_dim):
                if sym.active[j, i] == 0:
                    continue
                a, b, c, d = (sp.Float(float(v), 15) for v in p[j, i])
                f = get_symbolic(sym.names[j][i])
                total += c * f.sympy_fn(a * exprs[i] + b) + d
            nxt.append(total)
        exprs = _nodes(model, l + 1, nxt)
    out = []
    rounding = ex_round is not None or zero_below is not None
    for e in exprs:
        if rounding:
            e = round_floats(e, ex_round, zero_below)
        if simplify and sp.count_ops(e) <= _SIMPLIFY_MAX_OPS:
            e = _simplified(e, simplify_timeout)
            if rounding:
                e = round_floats(e, ex_round, zero_below)
        out.append(e)
    return SymbolicFormula(out, variables)
