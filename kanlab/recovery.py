"""Is a recovered formula the true law? A check of a formula against a known target.

A symbolic fit (``auto_symbolic`` then ``symbolic_formula``) gives a formula whose constants carry
fitting noise: ``1.0003*x*y + 1e-5`` for ``x*y``, or constants that are exact only in combination
(``c1 * (c2 / d2)`` with ``c1 c2 = 1``). A small error on the data does not settle whether it is the
law: a cubic can stand in for ``exp(x)`` on ``[0, 1]`` within 1e-4. :func:`check_recovery` says
whether the formula *is* the target up to that noise:

- it must match the target to ``max_error`` (1e-2) relative RMS error on the variables' box;
- then either it is *exact*: sympy finds it equal to the target once its constants are snapped
  (:func:`snap_constants`: each to the nearest ``p/q`` times 1, pi, sqrt(2), sqrt(pi) or
  sqrt(2 pi) within 1e-2 relative; below 2e-3 to 0);
- or it has the target's *structure*: with every constant set free (each within its value ``c``
  plus or minus ``|c| + 1e-2``: it may shrink to 0 or double, but a 1e-6 term cannot grow into a
  missing part), least squares drives the relative RMS error below ``structure_tol`` (1e-8) on the
  box and on a box ``widen`` (50%) wider (:func:`structure_error`). The target is then an
  instance of the formula's family; a look-alike (a polynomial for ``1/x``, a function of ``x + y``
  for one of ``x^2 + y^2``) cannot get there.

The structure test needs scipy (``pip install 'scipy>=1.15'``, in the ``dev`` and ``bench``
extras); the rest needs only sympy and numpy. Example::

    from kanlab.recovery import check_recovery
    (expr,), _ = model.symbolic_formula(var=["x", "y"])
    res = check_recovery(expr, "x*y", ["x", "y"], [(-1, 1), (-1, 1)])
    res.ok, res.how, res.error   # e.g. (True, 'exact', 3.1e-05)
"""
from __future__ import annotations

import math
from typing import List, NamedTuple, Optional, Sequence, Tuple, Union

import numpy as np
import sympy as sp

from .timelimit import check_seconds, time_limit

__all__ = ["Recovery", "check_recovery", "sample_box", "relative_error", "snap_constants", "free_constants",
           "structure_error", "MAX_ERROR", "STRUCTURE_TOL"]

MAX_ERROR = 1e-2  # relative RMS error on the box above which a formula is refused untested
STRUCTURE_TOL = 1e-8  # relative RMS error the freed constants must reach
_MAX_OPS = 80  # sympy.simplify on longer expressions can take minutes: only the structure test runs

Ranges = Sequence[Tuple[float, float]]


class Recovery(NamedTuple):
    """The verdict of :func:`check_recovery` (a tuple: ``ok, how, error = check_recovery(...)``)."""

    ok: bool  # the formula is the target up to fitted-constant noise
    how: str  # 'exact', 'structure', or '' when not recovered
    error: float  # relative RMS error against the target on the variables' box (inf if undefined there)


def sample_box(ranges: Ranges, n: int, rng: np.random.Generator, widen: float = 0.0) -> np.ndarray:
    """``n`` uniform points ``(n, len(ranges))`` of the box ``ranges``, each side widened by
    ``widen`` times its length in total (half on each end). A variable whose range is positive
    stays positive (its lower end goes at most down to ``lo / (1 + widen)``), so logs and roots of
    it stay defined."""
    cols = []
    for lo, hi in ranges:
        pad = widen * (hi - lo) / 2
        lo2, hi2 = lo - pad, hi + pad
        if lo > 0:
            lo2 = max(lo2, lo / (1 + widen))
        cols.append(rng.uniform(lo2, hi2, n))
    return np.stack(cols, axis=1)


def relative_error(expr: sp.Expr, target: sp.Expr, symbols: Sequence[sp.Symbol], x: np.ndarray) -> float:
    """Relative RMS error of ``expr`` against ``target`` at the points ``x`` (one column per symbol),
    over the points where the target is finite and real; ``inf`` if that is under half of them, or
    if ``expr`` is not finite at one of them."""
    with np.errstate(all="ignore"):
        f = np.broadcast_to(np.asarray(sp.lambdify(symbols, expr, "numpy")(*x.T), dtype=complex), (x.shape[0],))
        t = np.broadcast_to(np.asarray(sp.lambdify(symbols, target, "numpy")(*x.T), dtype=complex), (x.shape[0],))
    ok = np.isfinite(t) & (np.abs(t.imag) < 1e-12)
    if ok.sum() < x.shape[0] // 2:
        return math.inf
    diff = f[ok] - t[ok]
    if not np.isfinite(diff).all():
        return math.inf
    return float(np.sqrt(np.mean(np.abs(diff) ** 2)) / (np.sqrt(np.mean(np.abs(t[ok]) ** 2)) + 1e-12))


def _nice_constants() -> List[Tuple[float, sp.Expr]]:
    """Candidate exact constants: p/q (q <= 6, p <= 24) times 1, pi, sqrt(2), sqrt(pi),
    sqrt(2 pi) or their reciprocals."""
    bases = [sp.Integer(1), sp.pi, 1 / sp.pi, sp.sqrt(2), 1 / sp.sqrt(2), sp.sqrt(sp.pi), 1 / sp.sqrt(sp.pi),
             sp.sqrt(2 * sp.pi), 1 / sp.sqrt(2 * sp.pi)]
    out = []
    for base in bases:
        for q in range(1, 7):
            for p in range(1, 25):
                if math.gcd(p, q) == 1:
                    c = sp.Rational(p, q) * base
                    out.append((float(c), c))
    return out


_NICE = _nice_constants()


def snap_constants(expr: sp.Expr, tol: float = 1e-2, zero: float = 2e-3) -> sp.Expr:
    """``expr`` with each float replaced by the nearest candidate exact constant (``p/q``,
    ``q <= 6``, ``p <= 24``, times 1, pi, sqrt(2), sqrt(pi), sqrt(2 pi) or a reciprocal) if within
    ``tol`` relative; floats below ``zero`` in magnitude become 0, floats with no candidate stay."""
    repl = {}
    for f in expr.atoms(sp.Float):
        v = float(f)
        if abs(v) < zero:
            repl[f] = sp.Integer(0)
            continue
        err, val, exact = min((abs(abs(v) - val) / abs(v), val, exact) for val, exact in _NICE)
        if err <= tol:
            repl[f] = exact if v > 0 else -exact
    return expr.xreplace(repl)


def free_constants(expr: sp.Expr) -> Tuple[sp.Expr, List[sp.Symbol], np.ndarray]:
    """``expr`` with each occurrence of a float replaced by its own symbol (two equal values stay
    two parameters), the symbols, and the floats' values in the same order."""
    params: List[sp.Symbol] = []
    values: List[float] = []

    def free(e: sp.Expr) -> sp.Expr:
        if isinstance(e, sp.Float):
            params.append(sp.Dummy(f"c{len(params)}"))
            values.append(float(e))
            return params[-1]
        return e.func(*[free(a) for a in e.args]) if e.args else e

    return free(expr), params, np.array(values)


def structure_error(expr: sp.Expr, target: sp.Expr, symbols: Sequence[sp.Symbol], boxes: Sequence[np.ndarray]) -> float:
    """The largest relative RMS error (:func:`relative_error`) over ``boxes`` left once every
    constant of ``expr`` is refitted to ``target`` by least squares, starting from its value ``c``
    and kept within ``[c - |c| - 1e-2, c + |c| + 1e-2]``: a constant may move to 0 or double, but a
    term the formula carries at 1e-6 cannot grow into the missing part of a look-alike. Needs scipy."""
    try:
        from scipy.optimize import least_squares
    except ImportError as err:  # pragma: no cover - scipy ships with the dev/bench extras
        raise ImportError("the structure test of kanlab.recovery needs scipy: pip install 'scipy>=1.15'") from err

    family, params, theta0 = free_constants(expr)
    evaluate = sp.lambdify([*params, *symbols], family, "numpy")
    exact = sp.lambdify(symbols, target, "numpy")
    xs, ts, scales = [], [], []  # per box: its points where the target is finite, the target, its RMS
    for b in boxes:
        with np.errstate(all="ignore"):
            t = np.broadcast_to(np.asarray(exact(*b.T), dtype=float), (b.shape[0],))
        ok = np.isfinite(t)
        xs.append(b[ok])
        ts.append(t[ok])
        scales.append(np.full(int(ok.sum()), np.sqrt(np.mean(t[ok] ** 2)) + 1e-300))
    x, t, scale = np.concatenate(xs), np.concatenate(ts), np.concatenate(scales)

    def residual(theta: np.ndarray) -> np.ndarray:
        with np.errstate(all="ignore"):
            d = (np.broadcast_to(np.asarray(evaluate(*theta, *x.T), dtype=float), t.shape) - t) / scale
        return np.where(np.isfinite(d), d, 1e3)  # a formula undefined somewhere is far off there

    theta = theta0
    if len(params):
        reach = np.abs(theta0) + 1e-2
        theta = least_squares(residual, theta0, bounds=(theta0 - reach, theta0 + reach), x_scale="jac",
                              xtol=1e-15, ftol=1e-15, gtol=1e-15, max_nfev=200 * (len(params) + 1)).x
    refit = family.xreplace({p: sp.Float(v) for p, v in zip(params, theta)})
    return max(relative_error(refit, target, symbols, b) for b in boxes)


def _symbols(variables: Sequence[Union[str, sp.Symbol]]) -> List[sp.Symbol]:
    syms = [v if isinstance(v, sp.Symbol) else sp.Symbol(str(v)) for v in variables]
    if len({s.name for s in syms}) != len(syms):
        raise ValueError(f"variables must have distinct names, got {[s.name for s in syms]}")
    return syms


def _as_expr(e: Union[str, sp.Expr], syms: List[sp.Symbol], what: str) -> sp.Expr:
    if isinstance(e, str):
        e = sp.sympify(e, locals={s.name: s for s in syms})
    e = sp.sympify(e)
    by_name = {s.name: s for s in syms}
    # match symbols by name, so a formula built with other assumptions (real=True, ...) still counts
    e = e.xreplace({s: by_name[s.name] for s in e.free_symbols if isinstance(s, sp.Symbol) and s.name in by_name})
    extra = sorted(str(s) for s in e.free_symbols - set(syms))
    if extra:
        raise ValueError(f"{what} uses symbols that are not variables: {extra}")
    return e


def check_recovery(expr: Union[str, sp.Expr], target: Union[str, sp.Expr], variables: Sequence[Union[str, sp.Symbol]],
                   ranges: Ranges, *, max_error: float = MAX_ERROR, structure_tol: float = STRUCTURE_TOL,
                   widen: float = 0.5, simplify_seconds: Optional[float] = 30.0, seed: int = 0) -> Recovery:
    """Whether ``expr`` is ``target`` up to fitted-constant noise on the box ``ranges``.

    Args:
        expr: the recovered formula (sympy, or text that ``sympy.sympify`` reads), with floats for
            its fitted constants.
        target: the true law, in the same variables (sympy or text).
        variables: the variables' names (or sympy symbols), in the order of ``ranges``; symbols of
            ``expr`` and ``target`` are matched to them by name.
        ranges: ``(low, high)`` per variable: the box the formula was fitted on.
        max_error: relative RMS error on the box (2000 points) above which the formula is refused
            without the two tests.
        structure_tol: relative RMS error the freed constants must reach on both boxes (1000
            points each) for the structure test.
        widen: the second box of the structure test is the first one widened by this fraction.
        simplify_seconds: time limit of the exact test's ``sympy.simplify`` (it can run for
            minutes; on timeout or a sympy error the structure test decides); ``None``: no limit.
            Formulas with over 80 operations skip the exact test.
        seed: seed of the sample points.

    Returns:
        :class:`Recovery` ``(ok, how, error)``: ``how`` is ``'exact'`` or ``'structure'`` (the test
        that passed) or ``''``; ``error`` is the relative RMS error on the box.
    """
    check_seconds(simplify_seconds, "simplify_seconds")
    syms = _symbols(variables)
    ranges = [(float(lo), float(hi)) for lo, hi in ranges]
    if len(ranges) != len(syms):
        raise ValueError(f"{len(syms)} variables but {len(ranges)} ranges")
    if not all(math.isfinite(lo) and math.isfinite(hi) and lo < hi for lo, hi in ranges):
        raise ValueError(f"each range must be finite with low < high, got {ranges}")
    target = _as_expr(target, syms, "target")
    expr = _as_expr(expr, syms, "expr")
    rng = np.random.default_rng(seed)
    error = relative_error(expr, target, syms, sample_box(ranges, 2000, rng))
    if not error < max_error:  # too far off to be the target with constants within 1e-2 (or undefined)
        return Recovery(False, "", error)
    if sp.count_ops(expr) <= _MAX_OPS:
        try:
            with time_limit(simplify_seconds):  # trigsimp's factoring can run for many minutes
                for form in (expr, sp.expand(expr)):  # expanded: polynomial identities cancel term by term
                    if sp.count_ops(form) > _MAX_OPS:
                        continue
                    if sp.simplify(snap_constants(form) - target) == 0:
                        return Recovery(True, "exact", error)
        except Exception:  # noqa: BLE001 -- sympy may fail on odd expressions (or time out): use numbers
            pass
    boxes = [sample_box(ranges, 1000, rng), sample_box(ranges, 1000, rng, widen)]
    ok = structure_error(expr, target, syms, boxes) < structure_tol
    return Recovery(ok, "structure" if ok else "", error)
