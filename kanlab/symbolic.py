"""Symbolic fitting: the affine fit ``c * f(a * x + b) + d`` and the suggest / fix / unfix /
auto_symbolic operations on a network (bound as methods of :class:`~kanlab.model.KAN`).

A symbolic edge lives beside the spline layer: layer ``l`` of a model has a ``KANLayer`` and a
:class:`~kanlab.symbolic_layer.SymbolicLayer` of the same shape; the model adds their outputs. Fixing edge ``i -> j`` switches
its spline off through ``KANLayer.mask`` and its symbolic function on; unfixing does the reverse.

The affine fit is robust where pykan's is not: a vectorised coarse search over ``(a, b)`` (with
``c, d`` in closed form for every candidate) on standardised data (or on pykan's ``a_range,
b_range`` when given), then Levenberg-Marquardt on all four parameters from the best candidates
of distinct basins. Candidates that put data outside the function's domain or near a pole are
rejected, so the fitted formula is exact on the data and no division by zero can occur.
"""
from __future__ import annotations

import math
import warnings
import weakref
from collections import OrderedDict
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Dict, Iterable, List, Optional, Sequence, Tuple, Union

import torch

from .attribution import attribute
from .symbolic_lib import SymbolicFunction, get_symbolic, in_domain, resolve_library
from .validation import check_index, check_real, is_real, user_stacklevel

if TYPE_CHECKING:  # pragma: no cover
    from .network import KANNetwork

Lib = Optional[Iterable[Union[str, SymbolicFunction]]]
Range = Optional[Tuple[float, float]]  # pykan's a_range / b_range: (low, high)

_MAX_FIT_POINTS = 256
_DOMAIN_MARGIN = 1e-3


@dataclass
class AffineFit:
    """Result of :func:`fit_affine`: ``y ~ c * f(a * x + b) + d`` with coefficient of determination ``r2``."""

    name: str
    a: float
    b: float
    c: float
    d: float
    r2: float

    @property
    def params(self) -> Tuple[float, float, float, float]:
        return (self.a, self.b, self.c, self.d)


# --------------------------------------------------------------------------- affine fit
def _closed_form_cd(F: torch.Tensor, y: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Least-squares ``c, d`` and R^2 for every row of ``F`` ``(K, n)`` against ``y`` ``(n,)``."""
    Fm = F - F.mean(1, keepdim=True)
    ym = y - y.mean()
    var_f = (Fm * Fm).mean(1)
    cov = (Fm * ym).mean(1)
    var_y = (ym * ym).mean().clamp_min(1e-30)
    ok = var_f > 1e-12 * (F * F).mean(1).clamp_min(1e-30)
    c = torch.where(ok, cov / var_f.clamp_min(1e-30), torch.zeros_like(cov))
    d = y.mean() - c * F.mean(1)
    r2 = torch.where(ok, cov * cov / (var_f.clamp_min(1e-30) * var_y), torch.zeros_like(cov))
    return c, d, r2


def _lm_refine(entry: SymbolicFunction, x: torch.Tensor, y: torch.Tensor, p: torch.Tensor,
               inside: Optional[Callable[[torch.Tensor], torch.Tensor]] = None, iters: int = 30) -> torch.Tensor:
    """Levenberg-Marquardt on ``p = (a, b, c, d)`` ``(K, 4)`` for all K starts at once.

    Steps that raise the squared error, leave the function's domain or fail ``inside`` (``p (K, 4)
    -> (K,)`` bool mask of acceptable parameters) are rejected (damping up).
    """
    lam = torch.full((p.shape[0],), 1e-3, dtype=p.dtype)

    def residual(q: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        u = q[:, :1] * x + q[:, 1:2]
        r = q[:, 2:3] * entry.torch_fn(u) + q[:, 3:4] - y
        ok = in_domain(entry, u, _DOMAIN_MARGIN).all(1)
        if inside is not None:
            ok &= inside(q)
        err = torch.where(ok, (r * r).sum(1), torch.full_like(r[:, 0], math.inf))
        return r, err

    _, err = residual(p)
    for _ in range(iters):
        u = (p[:, :1] * x + p[:, 1:2]).detach().requires_grad_(True)
        with torch.enable_grad():
            fu = entry.torch_fn(u)
            (dfu,) = torch.autograd.grad(fu.sum(), u)
        fu = fu.detach()
        c = p[:, 2:3]
        J = torch.stack([c * dfu * x, c * dfu, fu, torch.ones_like(fu)], dim=-1)  # (K, n, 4)
        r = c * fu + p[:, 3:4] - y
        JtJ = J.transpose(1, 2) @ J
        Jtr = (J.transpose(1, 2) @ r.unsqueeze(-1)).squeeze(-1)
        JtJ, Jtr = torch.nan_to_num(JtJ), torch.nan_to_num(Jtr)
        diag = torch.diagonal(JtJ, dim1=1, dim2=2).clamp_min(1e-12)
        A = JtJ + torch.diag_embed(lam[:, None] * diag + 1e-12)
        step, info = torch.linalg.solve_ex(A, -Jtr)
        step = torch.where((info == 0)[:, None], torch.nan_to_num(step, nan=0.0, posinf=0.0, neginf=0.0), 0.0)
        _, new_err = residual(p + step)
        better = new_err < err
        if not bool(better.any()) and bool((lam > 1e6).all()):
            break
        p = torch.where(better[:, None], p + step, p)
        err = torch.where(better, new_err, err)
        lam = torch.where(better, lam * 0.3, lam * 10).clamp(1e-9, 1e9)
    return p


def _grid_search(entry: SymbolicFunction, xs: torch.Tensor, ys: torch.Tensor, A: torch.Tensor,
                 B: torch.Tensor) -> Tuple[torch.Tensor, ...]:
    """Closed-form ``c, d`` and R^2 (``-inf`` where the data leaves the domain) of every candidate
    ``u = A * xs + B``, ``A, B (K,)``: returns ``A, B, c, d, r2``, each ``(K,)``."""
    U = A[:, None] * xs + B[:, None]
    F = entry.torch_fn(U)
    c, d, r2 = _closed_form_cd(F, ys)
    valid = in_domain(entry, U, _DOMAIN_MARGIN).all(1) & torch.isfinite(r2) & torch.isfinite(F).all(1)
    return A, B, c, d, torch.where(valid, r2, torch.full_like(r2, -math.inf))


def _mesh(u: torch.Tensor, v: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
    """Every pair of ``u (m,)`` and ``v (n,)``, flattened: two ``(m * n,)`` tensors."""
    U, V = torch.meshgrid(u, v, indexing="ij")
    return U.reshape(-1), V.reshape(-1)


Candidates = Tuple[torch.Tensor, ...]
"""``(A, B, c, d, r2, coords)``: standardised ``u = A * xs + B``, closed-form ``c, d`` and R^2
(:func:`_grid_search`), ``(K,)`` each, and ``coords (K, 2)`` in grid steps (candidates within one
step of each other share a basin)."""


def _joined(*parts: Tuple[torch.Tensor, ...]) -> Tuple[torch.Tensor, ...]:
    """Candidate tuples concatenated field by field."""
    return tuple(torch.cat(field) for field in zip(*parts))


def _auto_candidates(entry: SymbolicFunction, xs: torch.Tensor, ys: torch.Tensor) -> Candidates:
    """kanlab's scale-free search: ``|A|`` on a log grid over 10^-1.5 .. 10^1.5 (``A > 0`` only
    for even and odd functions), ``B`` in [-6, 6], then a finer ``A`` grid around the two best slopes."""
    mags = torch.logspace(-1.5, 1.5, 19, dtype=torch.float64)
    beta = torch.linspace(-6, 6, 31, dtype=torch.float64)
    ratio = float(mags[1] / mags[0])
    coarse = _mesh(mags if entry.parity else torch.cat([-mags.flip(0), mags]), beta)  # f(-u) = ±f(u): c takes the sign
    A, B, c, d, r2 = found = _grid_search(entry, xs, ys, *coarse)
    if bool(torch.isfinite(r2).any()):  # zoom on narrow optima, e.g. sin(25 x)
        best = A[torch.argsort(r2, descending=True)].unique_consecutive()[:2]
        zoom = torch.cat([a0 * torch.logspace(-1, 1, 25, base=ratio, dtype=torch.float64) for a0 in best])
        A, B, c, d, r2 = _joined(found, _grid_search(entry, xs, ys, *_mesh(zoom, beta)))
    sign_apart = 1e6 * (A < 0)  # -A is never one step from A
    coords = torch.stack([A.abs().log() / math.log(ratio) + sign_apart, B / float(beta[1] - beta[0])], 1)
    return A, B, c, d, r2, coords


def _box_candidates(entry: SymbolicFunction, xs: torch.Tensor, ys: torch.Tensor, box: Tuple[float, ...],
                    mx: torch.Tensor, sx: torch.Tensor, n: int = 51) -> Candidates:
    """pykan's search in raw units: ``a`` and ``b`` on an ``n x n`` grid over ``box = (a_lo, a_hi,
    b_lo, b_hi)``, then a finer grid one step around the best; standardised: ``A = a sx``, ``B = a mx + b``."""
    a, b = (torch.linspace(lo, hi, n, dtype=torch.float64) for lo, hi in (box[:2], box[2:]))
    da, db = float(a[1] - a[0]), float(b[1] - b[0])

    def scored(ar: torch.Tensor, br: torch.Tensor) -> Tuple[torch.Tensor, ...]:
        return (*_grid_search(entry, xs, ys, ar * sx, ar * mx + br), torch.stack([ar / da, br / db], 1))

    ar, br = _mesh(a, b)
    found = scored(ar, br)
    best = int(torch.argmax(found[4]))
    a0, b0 = float(ar[best]), float(br[best])
    zoom = _mesh(torch.linspace(max(box[0], a0 - da), min(box[1], a0 + da), 21, dtype=torch.float64),
                 torch.linspace(max(box[2], b0 - db), min(box[3], b0 + db), 21, dtype=torch.float64))
    return _joined(found, scored(*zoom))


def _distinct_starts(coords: torch.Tensor, r2: torch.Tensor, k: int) -> torch.Tensor:
    """Indices of the ``k`` best finite candidates by ``r2`` ``(K,)``, skipping any within one grid
    step of a better one (``coords (K, 2)``): the starts land in different basins instead of
    crowding around the best."""
    free = torch.isfinite(r2)
    chosen: List[int] = []
    while len(chosen) < k and bool(free.any()):
        idx = int(torch.argmax(torch.where(free, r2, torch.full_like(r2, -math.inf))))
        chosen.append(idx)
        free &= (coords - coords[idx]).abs().amax(1) > 1.01
    return torch.tensor(chosen, dtype=torch.long)


def _search_box(a_range: Range, b_range: Range) -> Optional[Tuple[float, ...]]:
    """``(a_lo, a_hi, b_lo, b_hi)``, a missing range taking pykan's (-10, 10); ``None`` if both are."""
    if a_range is None and b_range is None:
        return None
    box: List[float] = []
    for name, r in (("a_range", a_range), ("b_range", b_range)):
        r = (-10.0, 10.0) if r is None else r
        if not (isinstance(r, (tuple, list)) and len(r) == 2 and all(is_real(v) for v in r)):
            raise TypeError(f"{name} must be a pair (low, high) of numbers, got {r!r} (pykan's positional order "
                            "is l, i, j, a_range, b_range, lib: pass lib by name)")
        if not (math.isfinite(r[0]) and math.isfinite(r[1]) and r[0] < r[1]):
            raise ValueError(f"{name} must be a pair (low, high) of finite numbers with low < high, got {r!r}")
        box += [float(r[0]), float(r[1])]
    return tuple(box)


def _inside_box(box: Tuple[float, ...], mx: torch.Tensor, sx: torch.Tensor) -> Callable[[torch.Tensor], torch.Tensor]:
    """``q (K, 4) -> (K,)``: whether standardised ``(A, B) = q[:, :2]`` is inside the raw ``box``
    (``a = A / sx``, ``b = B - A mx / sx``), to a relative 1e-9."""
    tol = 1e-9 * (1 + max(abs(v) for v in box))

    def inside(q: torch.Tensor) -> torch.Tensor:
        a, b = q[:, 0] / sx, q[:, 1] - q[:, 0] * mx / sx
        return (a >= box[0] - tol) & (a <= box[1] + tol) & (b >= box[2] - tol) & (b <= box[3] + tol)

    return inside


def fit_affine(x: torch.Tensor, y: torch.Tensor, fun: Union[str, SymbolicFunction], n_starts: int = 4,
               a_range: Range = None, b_range: Range = None) -> AffineFit:
    """Fit ``y ~ c * f(a * x + b) + d`` for one library function.

    Args:
        x, y: samples ``(n,)`` (any float dtype; the fit runs in float64 on at most 256 points).
        fun: a library name, alias, sympy string or :class:`SymbolicFunction`.
        n_starts: how many grid candidates (the best in distinct basins) Levenberg-Marquardt refines.
        a_range, b_range: pykan's search ranges ``(low, high)`` for ``a`` and ``b`` in the units of
            ``x``: a 51 x 51 grid over them, then refinement that stays inside (one given alone:
            the other is pykan's (-10, 10)). The reported ``(a, b)`` is the canonical form (below),
            which may lie outside. ``None`` (both): kanlab's scale-free search on standardised
            data, unbounded (it finds ``sin(25 x)``, which pykan's default (-10, 10) excludes).

    Returns an :class:`AffineFit` in the units of ``x`` and ``y``. ``'x'`` and ``'0'`` are fitted
    in closed form (``'0'`` gives the constant ``d = mean(y)``, R^2 = 0; so does a constant ``y``). If no candidate keeps the
    data inside the function's domain, R^2 is ``-inf``.
    """
    entry = get_symbolic(fun)
    box = _search_box(a_range, b_range)
    x = x.detach().reshape(-1).to(torch.float64).cpu()
    y = y.detach().reshape(-1).to(torch.float64).cpu()
    if x.shape != y.shape or x.numel() < 2:
        raise ValueError(f"x and y must hold the same number (>= 2) of samples, got {tuple(x.shape)} and {tuple(y.shape)}")
    if x.numel() > _MAX_FIT_POINTS:
        idx = torch.linspace(0, x.numel() - 1, _MAX_FIT_POINTS).long()
        order = torch.argsort(x)
        x, y = x[order][idx], y[order][idx]
    mx, sx = x.mean(), x.std().clamp_min(1e-12)
    my, sy = y.mean(), y.std().clamp_min(1e-12)
    xs, ys = (x - mx) / sx, (y - my) / sy
    if entry.name == "0" or float(y.std()) <= 1e-12 * (float(y.abs().max()) + 1e-30):
        return AffineFit(entry.name, 1.0, 0.0, 0.0, float(my), 0.0)  # R^2 of a constant is 0
    if entry.name == "x":
        c, d, r2 = _closed_form_cd(x[None], y)
        return AffineFit("x", 1.0, 0.0, float(c[0]), float(d[0]), float(r2[0]))

    # candidates in standardised units: u = A * xs + B
    if box is None:
        A, B, c, d, r2, coords = _auto_candidates(entry, xs, ys)
        inside = None
    else:
        A, B, c, d, r2, coords = _box_candidates(entry, xs, ys, box, mx, sx)
        inside = _inside_box(box, mx, sx)
    if not bool(torch.isfinite(r2).any()):
        return AffineFit(entry.name, 1.0, 0.0, 0.0, float(my), -math.inf)
    top = _distinct_starts(coords, r2, n_starts)
    p = _lm_refine(entry, xs, ys, torch.stack([A[top], B[top], c[top], d[top]], dim=1), inside)
    Fp = entry.torch_fn(p[:, :1] * xs + p[:, 1:2])
    resid = p[:, 2:3] * Fp + p[:, 3:4] - ys
    ok = in_domain(entry, p[:, :1] * xs + p[:, 1:2], _DOMAIN_MARGIN).all(1) & torch.isfinite(resid).all(1)
    r2_ref = torch.where(ok, 1 - (resid * resid).mean(1) / (ys * ys).mean().clamp_min(1e-30),
                         torch.full_like(p[:, 0], -math.inf))
    best = int(torch.argmax(r2_ref))
    al, be, cc, dd = (float(v) for v in p[best])
    # back to raw units: u = al * (x - mx) / sx + be,  y = sy * (cc * f(u) + dd) + my
    a = al / float(sx)
    b = be - al * float(mx) / float(sx)
    return _canonical(entry, AffineFit(entry.name, a, b, cc * float(sy), dd * float(sy) + float(my),
                                       float(r2_ref[best])))


def _canonical(entry: SymbolicFunction, fit: AffineFit) -> AffineFit:
    """The same function with redundant scales folded into ``c``/``d``: ``|a| = 1`` for
    homogeneous functions (``c (a x + b)^p = c |a|^p (±x + b/|a|)^p``), ``b = 0`` for ``exp``,
    ``|a| = 1`` for ``log`` (``log(s u) = log s + log u``), ``a > 0`` for even and odd functions."""
    a, b, c, d = fit.params
    s = abs(a)
    if s < 1e-12:
        return fit
    if entry.degree is not None:
        a, b, c = math.copysign(1.0, a), b / s, c * s ** entry.degree
    elif entry.name == "exp" and abs(b) < 600 and math.isfinite(c * math.exp(b)):
        b, c = 0.0, c * math.exp(b)
    elif entry.name == "log":
        a, b, d = math.copysign(1.0, a), b / s, d + c * math.log(s)
    if a < 0 and entry.parity != 0:  # f(-u) = ±f(u)
        a, b, c = -a, -b, c * entry.parity
    return AffineFit(fit.name, a, b, c, d, fit.r2)


R2_FLOOR = 1e-8  # unexplained variance below this counts as an exact fit when ranking


def rank_functions(x: torch.Tensor, y: torch.Tensor, lib: Lib = None, weight_simple: float = 0.8,
                   topk: Optional[int] = None, *, a_range: Range = None,
                   b_range: Range = None) -> List[Tuple[AffineFit, float, float]]:
    """Fit every library function to ``(x, y)`` and rank them.

    The score is pykan's form, ``weight_simple * complexity + (1 - weight_simple) *
    log2(1 + R2_FLOOR - R^2)`` (lower is better: bits of complexity against bits of unexplained
    variance), with a floor of 1e-8 where pykan has 1e-5: with pykan's floor an exact fit
    (``1 - R^2`` = 1e-12) scores only 1.6 bits better than a near miss at ``1 - R^2`` = 2e-5,
    so e.g. ``sin(2.24 x - pi/2)`` beat the true ``exp(-x^2)`` on [-1, 1] by its lower complexity.
    A well-trained spline edge deviates from its true function far less than 1e-5. Returns
    ``[(fit, complexity, score)]`` best first, ``topk`` of them (all if ``None``). ``a_range``,
    ``b_range``: the search ranges of :func:`fit_affine`.
    """
    if not 0.0 <= weight_simple <= 1.0:
        raise ValueError(f"weight_simple must lie in [0, 1], got {weight_simple}")
    rows = []
    for entry in resolve_library(lib):
        fit = fit_affine(x, y, entry, a_range=a_range, b_range=b_range)
        r2 = fit.r2 if math.isfinite(fit.r2) else -1e8
        score = weight_simple * entry.complexity + (1 - weight_simple) * math.log2(1 + R2_FLOOR - min(r2, 1.0))
        rows.append((fit, entry.complexity, score))
    rows.sort(key=lambda row: row[2])
    return rows if topk is None else rows[:topk]


class _RankMemo:
    """One model's recent edge rankings, reused when an edge's same samples are ranked again with
    the same options: pykan's workflow calls ``suggest_symbolic()`` and then ``auto_symbolic()``,
    which rank every first-layer edge twice on identical samples. Exact: the samples are compared
    with ``torch.equal``; the oldest rankings leave first past :attr:`budget` sample elements."""

    budget = 1 << 22

    def __init__(self) -> None:
        self.rows: "OrderedDict[Tuple[int, int, int], tuple]" = OrderedDict()
        self.size = 0

    def ranked(self, edge: Tuple[int, int, int], xs: torch.Tensor, ys: torch.Tensor, cand: List[str],
               weight_simple: float, a_range: Range, b_range: Range) -> List[Tuple[AffineFit, float, float]]:
        """:func:`rank_functions` of edge ``(l, i, j)``'s samples ``xs, ys`` ``(n,)``."""
        options = (tuple((e.name, id(e)) for e in resolve_library(cand)), weight_simple, a_range, b_range)
        hit = self.rows.pop(edge, None)
        if hit is not None:
            self.size -= 2 * hit[0].numel()
            same = hit[2] == options and all(
                a.device == b.device and a.dtype == b.dtype and torch.equal(a, b) for a, b in ((hit[0], xs), (hit[1], ys)))
            if same:
                self._keep(edge, hit)
                return list(hit[3])
        rows = rank_functions(xs, ys, cand, weight_simple, a_range=a_range, b_range=b_range)
        if 2 * xs.numel() <= self.budget:
            self._keep(edge, (xs.detach().clone(), ys.detach().clone(), options, rows))
        return list(rows)

    def _keep(self, edge: Tuple[int, int, int], entry: tuple) -> None:
        self.rows[edge] = entry
        self.size += 2 * entry[0].numel()
        while self.size > self.budget:
            self.size -= 2 * self.rows.popitem(last=False)[1][0].numel()


_MEMOS: "weakref.WeakKeyDictionary[Any, _RankMemo]" = weakref.WeakKeyDictionary()


def _rank_edge(model: KANNetwork, edge: Tuple[int, int, int], xs: torch.Tensor, ys: torch.Tensor,
               cand: List[str], weight_simple: float, a_range: Range, b_range: Range) -> Tuple[AffineFit, float, float]:
    """The best ``(fit, complexity, score)`` of :func:`rank_functions` for one edge of ``model``,
    through the model's :class:`_RankMemo`."""
    memo = _MEMOS.get(model)
    if memo is None:
        memo = _MEMOS[model] = _RankMemo()
    return memo.ranked(edge, xs, ys, cand, weight_simple, a_range, b_range)[0]


# --------------------------------------------------------------------------- model operations
@torch.no_grad()
def edge_samples(model: KANNetwork, l: int, i: int, j: int, x: Optional[torch.Tensor] = None) -> Tuple[torch.Tensor, torch.Tensor]:
    """Inputs ``(n,)`` edge ``i -> j`` of layer ``l`` sees on the data and its values ``(n,)``.
    ``ValueError`` for an edge that is switched off (pruned or removed: its values are all 0, so
    any fit to them would report R^2 0 and revive the edge)."""
    model.check_edge(l, i, j)
    if not model.layers[l].mask[j, i] and not model.symbolic[l].active[j, i]:
        raise ValueError(f"edge ({l},{i},{j}) is switched off (pruned or removed), so there is nothing to fit; "
                         f"fix it without fitting (fit_params_bool=False) to switch it back on as a formula")
    inp = model.layer_inputs(model.data(x))[l]
    return inp[:, i], model.edge_activations(l, inp)[:, j, i]


def suggest_symbolic(model: KANNetwork, l: Optional[int] = None, i: Optional[int] = None,
                     j: Optional[int] = None, a_range: Range = None, b_range: Range = None, lib: Lib = None,
                     topk: int = 5, verbose: bool = True, *, weight_simple: float = 0.8,
                     r2_threshold: float = 0.9, x: Optional[torch.Tensor] = None) -> Any:
    """Rank the library for edge ``i -> j`` of layer ``l``; print the top ``topk`` when ``verbose``.

    Returns pykan's tuple ``(best_name, best_function, best_r2, best_complexity)``. With no edge
    given, :func:`suggest_all`'s table of every active spline edge instead (``r2_threshold``:
    auto_symbolic's, marking the edges it would keep as splines). The positional order is
    pykan's up to ``verbose``. ``a_range, b_range``: pykan's search ranges for ``a`` and ``b``
    (see :func:`fit_affine`); ``None`` (default): kanlab's unbounded scale-free search."""
    _search_box(a_range, b_range)  # bad ranges fail before any fitting
    if l is None and i is None and j is None:
        return suggest_all(model, lib, weight_simple, verbose, r2_threshold=r2_threshold, x=x,
                           a_range=a_range, b_range=b_range)
    if l is None or i is None or j is None:
        raise ValueError("give all of l, i, j (one edge) or none of them (every edge)")
    xs, ys = edge_samples(model, l, i, j, x)
    rows = rank_functions(xs, ys, lib, weight_simple, a_range=a_range, b_range=b_range)
    if verbose:
        print(f"edge ({l},{i},{j}): {'function':>14} {'R^2':>9} {'complexity':>10} {'score':>8}")
        for fit, comp, score in rows[:topk]:
            print(f"{'':>13}{fit.name:>14} {fit.r2:>9.5f} {comp:>10g} {score:>8.3f}")
    best = rows[0]
    return best[0].name, get_symbolic(best[0].name), best[0].r2, best[1]


def _candidates(names: List[str], score: float, zero_threshold: float) -> List[str]:
    """The library names an edge with attribution ``score`` may take: ``'0'`` only (and always)
    when the score is below ``zero_threshold``; never an empty list."""
    small = score < zero_threshold
    cand = [n for n in names if n != "0" or small] or ["0"]
    return cand + ["0"] if small and "0" not in cand else cand


def suggest_all(model: KANNetwork, lib: Lib = None, weight_simple: float = 0.8, verbose: bool = True,
                *, zero_threshold: float = 1e-2, r2_threshold: float = 0.9, x: Optional[torch.Tensor] = None,
                a_range: Range = None, b_range: Range = None) -> List[Dict[str, object]]:
    """The best library function for every active spline edge, as rows ``{l, i, j, name, r2,
    complexity, formula, fix}``; printed as a table when ``verbose``. Candidates and the
    ``r2_threshold`` as in :func:`auto_symbolic` (``'0'`` only for edges scoring below
    ``zero_threshold``; ``fix`` False where the best R^2 is below ``r2_threshold``: the edge would
    stay a spline), so the table says what ``auto_symbolic`` with the same ``lib`` (and search
    ranges ``a_range, b_range``) would do on the first layer (later layers: on the current model's
    inputs, before earlier layers are snapped)."""
    data = model.data(x)
    names = [e.name for e in resolve_library(lib)]
    scores = attribute(model, data)["edge_scores"]
    rows: List[Dict[str, object]] = []
    inputs = model.layer_inputs(data)
    for l in range(model.depth):
        with torch.no_grad():
            acts = model.edge_activations(l, inputs[l])
        layer = model.layers[l]
        for j in range(layer.out_dim):
            for i in range(layer.in_dim):
                if layer.mask[j, i] == 0:
                    continue
                cand = _candidates(names, float(scores[l][j, i]), zero_threshold)
                fit, comp, _ = _rank_edge(model, (l, i, j), inputs[l][:, i], acts[:, j, i], cand, weight_simple,
                                          a_range, b_range)
                rows.append(dict(l=l, i=i, j=j, name=fit.name, r2=fit.r2, complexity=comp,
                                 formula=_affine_text(fit), fix=_accepted(fit, r2_threshold)))
    if verbose:
        print(f"{'edge (l,i,j)':>13}  {'best':>12} {'R^2':>9}  fitted form")
        for r in rows:
            kept = "" if r["fix"] else f"   (auto_symbolic keeps the spline: R^2 < {r2_threshold:g})"
            print(f"{str((r['l'], r['i'], r['j'])):>13}  {r['name']:>12} {r['r2']:>9.5f}  {r['formula']}{kept}")
    return rows


def _accepted(fit: AffineFit, r2_threshold: float) -> bool:
    """Whether ``auto_symbolic`` snaps an edge to ``fit``: '0' always, a curve from ``r2_threshold`` up."""
    return fit.name == "0" or fit.r2 >= r2_threshold


def _affine_text(fit: AffineFit) -> str:
    """``c*f(a*x+b)+d`` as sympy prints it, constants to 4 significant digits."""
    import sympy as sp

    a, b, c, d = (sp.Float(v, 4) for v in fit.params)
    return str(c * get_symbolic(fit.name).sympy_fn(a * sp.Symbol("x") + b) + d)


def fix_symbolic(model: KANNetwork, l: int, i: int, j: int, fun_name: Union[str, SymbolicFunction],
                 fit_params_bool: bool = True, verbose: bool = True, *, x: Optional[torch.Tensor] = None,
                 params: Optional[Sequence[float]] = None, a_range: Range = None, b_range: Range = None) -> float:
    """Replace edge ``i -> j`` of layer ``l`` by ``fun_name`` (a library name, an expression such
    as ``"x**2"`` or a :class:`~kanlab.symbolic_lib.SymbolicFunction`); returns the fit's R^2.

    With ``fit_params_bool`` (default) ``(a, b, c, d)`` are fitted to the edge's current values on the
    data (``a_range, b_range``: pykan's search ranges, see :func:`fit_affine`); otherwise ``params``
    (default ``(1, 0, 1, 0)``) are used and R^2 is ``nan``.
    """
    model.check_edge(l, i, j)
    entry = get_symbolic(fun_name)
    if fit_params_bool:
        xs, ys = edge_samples(model, l, i, j, x)
        fit = fit_affine(xs, ys, entry, a_range=a_range, b_range=b_range)
        if not math.isfinite(fit.r2):
            raise ValueError(f"{entry.name!r} cannot fit edge ({l},{i},{j}): every a*x+b leaves its domain "
                             f"{entry.domain} on the data")
        chosen, r2 = fit.params, fit.r2
    else:
        chosen, r2 = tuple(params) if params is not None else (1.0, 0.0, 1.0, 0.0), math.nan
        if len(chosen) != 4:
            raise ValueError(f"params must be (a, b, c, d), got {params!r}")
    model.symbolic[l].set_edge(j, i, entry, chosen)
    with torch.no_grad():
        model.layers[l].mask[j, i] = 0.0
    if verbose:
        print(f"fixed ({l},{i},{j}) -> {entry.name}, R^2 = {r2:.5f}")
    return r2


def unfix_symbolic(model: KANNetwork, l: int, i: int, j: int) -> KANNetwork:
    """Turn edge ``i -> j`` of layer ``l`` back into a spline edge (its spline was kept). Returns ``model``."""
    model.check_edge(l, i, j)
    model.symbolic[l].clear_edge(j, i)
    with torch.no_grad():
        model.layers[l].mask[j, i] = 1.0
    return model


def unfix_symbolic_all(model: KANNetwork) -> KANNetwork:
    """Turn every symbolic edge back into its spline (pykan's ``unfix_symbolic_all``); edges switched
    off by pruning stay off. Returns ``model``."""
    for l, sym in enumerate(model.symbolic):
        for j, i in sym.active.nonzero().tolist():
            unfix_symbolic(model, l, i, j)
    return model


def auto_symbolic(model: KANNetwork, lib: Lib = None, *, verbose: bool = True, weight_simple: float = 0.8,
                  r2_threshold: float = 0.9, zero_threshold: float = 1e-2, x: Optional[torch.Tensor] = None,
                  layers: Optional[Sequence[int]] = None, a_range: Range = None,
                  b_range: Range = None) -> List[Dict[str, object]]:
    """Snap every active spline edge to its best library function, layer by layer.

    Later layers are fitted on the inputs the already-snapped layers produce. ``'0'`` is only a
    candidate (and always one) for edges whose attribution score (:func:`kanlab.attribution.attribute`,
    computed before snapping) is below ``zero_threshold``: an important edge is never snapped to
    a constant, a dead one never to a fitted curve. An edge whose best fit has R^2 below
    ``r2_threshold`` (default 0.9; pykan's 0 snaps everything) stays a spline, and a
    ``UserWarning`` lists the edges kept so: a formula built on a poor fit would be wrong
    without saying so (``symbolic_formula`` counts spline edges as 0 and warns; fix them by hand,
    give a richer ``lib``, or retrain sparser). ``layers`` restricts snapping to those layers
    (e.g. a different ``lib`` per layer: call once per layer); ``a_range, b_range``: pykan's search
    ranges (:func:`fit_affine`). Returns the rows ``{l, i, j, name, r2}`` of the fixed edges.
    """
    if isinstance(lib, tuple) and len(lib) == 2 and all(is_real(v) for v in lib):
        raise TypeError(f"auto_symbolic's first positional argument is lib (pykan's is a_range): pass "
                        f"a_range={lib} (and b_range) by name")
    r2_threshold = check_real("r2_threshold", r2_threshold, high=1.0, finite=False)
    _search_box(a_range, b_range)
    data = model.data(x)
    names = [e.name for e in resolve_library(lib)]
    scores = attribute(model, data)["edge_scores"]
    fixed: List[Dict[str, object]] = []
    kept: List[str] = []
    chosen = range(model.depth) if layers is None else [check_index("layer", l, model.depth, sep=" ") for l in layers]
    for l in chosen:
        inp = model.layer_inputs(data)[l]
        with torch.no_grad():
            acts = model.edge_activations(l, inp)
        layer = model.layers[l]
        for j in range(layer.out_dim):
            for i in range(layer.in_dim):
                if layer.mask[j, i] == 0:
                    continue
                cand = _candidates(names, float(scores[l][j, i]), zero_threshold)
                fit, _, _ = _rank_edge(model, (l, i, j), inp[:, i], acts[:, j, i], cand, weight_simple,
                                       a_range, b_range)
                if not _accepted(fit, r2_threshold):
                    kept.append(f"({l},{i},{j}) best {fit.name} R^2 {fit.r2:.3g}")
                    if verbose:
                        print(f"kept spline ({l},{i},{j}): best {fit.name} R^2 = {fit.r2:.4f} < {r2_threshold}")
                    continue
                model.symbolic[l].set_edge(j, i, fit.name, fit.params)
                with torch.no_grad():
                    layer.mask[j, i] = 0.0
                fixed.append(dict(l=l, i=i, j=j, name=fit.name, r2=fit.r2))
                if verbose:
                    print(f"fixing ({l},{i},{j}) with {fit.name:>10}, R^2 = {fit.r2:.6f}")
    if kept:
        warnings.warn(f"auto_symbolic kept {len(kept)} edge(s) as splines, their best fit below r2_threshold="
                      f"{r2_threshold:g}: {'; '.join(kept)}. Fix them by hand (fix_symbolic), pass a richer lib or "
                      f"a lower r2_threshold, or retrain sparser (fit(lamb=...), prune) first.",
                      UserWarning, stacklevel=user_stacklevel())
    return fixed
