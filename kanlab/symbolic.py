"""Symbolic fitting: the affine fit ``c * f(a * x + b) + d`` and the suggest / fix / unfix /
auto_symbolic operations on a network (bound as methods of :class:`~kanlab.model.KAN`).

A symbolic edge lives beside the spline layer: layer ``l`` of a model has a ``KANLayer`` and a
:class:`~kanlab.symbolic_layer.SymbolicLayer` of the same shape; the model adds their outputs. Fixing edge ``i -> j`` switches
its spline off through ``KANLayer.mask`` and its symbolic function on; unfixing does the reverse.

The affine fit is robust where pykan's is not: a vectorised coarse search over ``(a, b)`` (with
``c, d`` in closed form for every candidate) on standardised data, then Levenberg-Marquardt on all
four parameters from the best few candidates. Candidates that put data outside the function's
domain or near a pole are rejected, so the fitted formula is exact on the data and no division by
zero can occur.
"""
from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Dict, Iterable, List, Optional, Sequence, Tuple, Union

import torch

from .attribution import attribute
from .symbolic_lib import SymbolicFunction, get_symbolic, in_domain, resolve_library
from .validation import check_index, check_real

if TYPE_CHECKING:  # pragma: no cover
    from .network import KANNetwork

Lib = Optional[Iterable[Union[str, SymbolicFunction]]]

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
               iters: int = 30) -> torch.Tensor:
    """Levenberg-Marquardt on ``p = (a, b, c, d)`` ``(K, 4)`` for all K starts at once.

    Steps that raise the squared error or leave the function's domain are rejected (damping up).
    """
    lam = torch.full((p.shape[0],), 1e-3, dtype=p.dtype)

    def residual(q: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        u = q[:, :1] * x + q[:, 1:2]
        r = q[:, 2:3] * entry.torch_fn(u) + q[:, 3:4] - y
        ok = in_domain(entry, u, _DOMAIN_MARGIN).all(1)
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


def _grid_search(entry: SymbolicFunction, xs: torch.Tensor, ys: torch.Tensor, alpha: torch.Tensor,
                 beta: torch.Tensor) -> Tuple[torch.Tensor, ...]:
    """R^2 (``-inf`` where the data leaves the domain) of every ``u = alpha * xs + beta``, with its
    closed-form ``c, d``: returns ``A (K, 1), B (K, 1), c (K,), d (K,), r2 (K,)``."""
    A, B = torch.meshgrid(alpha, beta, indexing="ij")
    A, B = A.reshape(-1, 1), B.reshape(-1, 1)
    U = A * xs + B
    F = entry.torch_fn(U)
    c, d, r2 = _closed_form_cd(F, ys)
    valid = in_domain(entry, U, _DOMAIN_MARGIN).all(1) & torch.isfinite(r2) & torch.isfinite(F).all(1)
    return A, B, c, d, torch.where(valid, r2, torch.full_like(r2, -math.inf))


def fit_affine(x: torch.Tensor, y: torch.Tensor, fun: Union[str, SymbolicFunction],
               n_starts: int = 4) -> AffineFit:
    """Fit ``y ~ c * f(a * x + b) + d`` for one library function.

    Args:
        x, y: samples ``(n,)`` (any float dtype; the fit runs in float64 on at most 512 points).
        fun: a library name, alias, sympy string or :class:`SymbolicFunction`.
        n_starts: how many of the best grid candidates Levenberg-Marquardt refines.

    Returns an :class:`AffineFit` in the units of ``x`` and ``y``. ``'x'`` and ``'0'`` are fitted
    in closed form (``'0'`` gives the constant ``d = mean(y)``, R^2 = 0; so does a constant ``y``). If no candidate keeps the
    data inside the function's domain, R^2 is ``-inf``.
    """
    entry = get_symbolic(fun)
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

    # coarse grid in standardised units: u = alpha * xs + beta
    mags = torch.logspace(-1.5, 1.5, 19, dtype=torch.float64)
    alpha = torch.cat([-mags.flip(0), mags])
    beta = torch.linspace(-6, 6, 31, dtype=torch.float64)
    A, B, c, d, r2 = _grid_search(entry, xs, ys, alpha, beta)
    if not bool(torch.isfinite(r2).any()):
        return AffineFit(entry.name, 1.0, 0.0, 0.0, float(my), -math.inf)
    # zoom: a finer alpha grid around the two best coarse slopes (narrow optima, e.g. sin(25 x))
    best_alpha = A[torch.argsort(r2, descending=True), 0].unique_consecutive()[:2]
    ratio = float(mags[1] / mags[0])
    zoom = torch.cat([a0 * torch.logspace(-1, 1, 25, base=ratio, dtype=torch.float64) for a0 in best_alpha])
    A2, B2, c2, d2, r22 = _grid_search(entry, xs, ys, zoom, beta)
    A, B, c, d, r2 = (torch.cat(pair) for pair in ((A, A2), (B, B2), (c, c2), (d, d2), (r2, r22)))
    top = torch.topk(r2, min(n_starts, int(torch.isfinite(r2).sum()))).indices
    p0 = torch.stack([A[top, 0], B[top, 0], c[top], d[top]], dim=1)
    p = _lm_refine(entry, xs, ys, p0)
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
                   topk: Optional[int] = None) -> List[Tuple[AffineFit, float, float]]:
    """Fit every library function to ``(x, y)`` and rank them.

    The score is pykan's form, ``weight_simple * complexity + (1 - weight_simple) *
    log2(1 + R2_FLOOR - R^2)`` (lower is better: bits of complexity against bits of unexplained
    variance), with a floor of 1e-8 where pykan has 1e-5: with pykan's floor an exact fit
    (``1 - R^2`` = 1e-12) scores only 1.6 bits better than a near miss at ``1 - R^2`` = 2e-5,
    so e.g. ``sin(2.24 x - pi/2)`` beat the true ``exp(-x^2)`` on [-1, 1] by its lower complexity.
    A well-trained spline edge deviates from its true function far less than 1e-5. Returns
    ``[(fit, complexity, score)]`` best first, ``topk`` of them (all if ``None``).
    """
    if not 0.0 <= weight_simple <= 1.0:
        raise ValueError(f"weight_simple must lie in [0, 1], got {weight_simple}")
    rows = []
    for entry in resolve_library(lib):
        fit = fit_affine(x, y, entry)
        r2 = fit.r2 if math.isfinite(fit.r2) else -1e8
        score = weight_simple * entry.complexity + (1 - weight_simple) * math.log2(1 + R2_FLOOR - min(r2, 1.0))
        rows.append((fit, entry.complexity, score))
    rows.sort(key=lambda row: row[2])
    return rows if topk is None else rows[:topk]


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
                     j: Optional[int] = None, *, lib: Lib = None, topk: int = 5, verbose: bool = True,
                     weight_simple: float = 0.8, r2_threshold: float = 0.9, x: Optional[torch.Tensor] = None) -> Any:
    """Rank the library for edge ``i -> j`` of layer ``l``; print the top ``topk`` when ``verbose``.

    Returns pykan's tuple ``(best_name, best_function, best_r2, best_complexity)``. With no edge
    given, :func:`suggest_all`'s table of every active spline edge instead (``r2_threshold``:
    auto_symbolic's, marking the edges it would keep as splines). The options are
    keyword-only: pykan puts ``a_range, b_range`` where kanlab has no such grid, so a positional
    call cannot mean the same thing in both."""
    if l is None and i is None and j is None:
        return suggest_all(model, lib, weight_simple, verbose, r2_threshold=r2_threshold, x=x)
    if l is None or i is None or j is None:
        raise ValueError("give all of l, i, j (one edge) or none of them (every edge)")
    xs, ys = edge_samples(model, l, i, j, x)
    rows = rank_functions(xs, ys, lib, weight_simple)
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
                *, zero_threshold: float = 1e-2, r2_threshold: float = 0.9,
                x: Optional[torch.Tensor] = None) -> List[Dict[str, object]]:
    """The best library function for every active spline edge, as rows ``{l, i, j, name, r2,
    complexity, formula, fix}``; printed as a table when ``verbose``. Candidates and the
    ``r2_threshold`` as in :func:`auto_symbolic` (``'0'`` only for edges scoring below
    ``zero_threshold``; ``fix`` False where the best R^2 is below ``r2_threshold``: the edge would
    stay a spline), so the table says what ``auto_symbolic`` with the same ``lib`` would do on the
    first layer (later layers: on the current model's inputs, before earlier layers are snapped)."""
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
                fit, comp, _ = rank_functions(inputs[l][:, i], acts[:, j, i], cand, weight_simple)[0]
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
                 params: Optional[Sequence[float]] = None) -> float:
    """Replace edge ``i -> j`` of layer ``l`` by ``fun_name`` (a library name, an expression such
    as ``"x**2"`` or a :class:`~kanlab.symbolic_lib.SymbolicFunction`); returns the fit's R^2.

    With ``fit_params_bool`` (default) ``(a, b, c, d)`` are fitted to the edge's current values on the
    data; otherwise ``params`` (default ``(1, 0, 1, 0)``) are used and R^2 is ``nan``.
    """
    model.check_edge(l, i, j)
    entry = get_symbolic(fun_name)
    if fit_params_bool:
        xs, ys = edge_samples(model, l, i, j, x)
        fit = fit_affine(xs, ys, entry)
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


def auto_symbolic(model: KANNetwork, lib: Lib = None, *, verbose: bool = True, weight_simple: float = 0.8,
                  r2_threshold: float = 0.9, zero_threshold: float = 1e-2, x: Optional[torch.Tensor] = None,
                  layers: Optional[Sequence[int]] = None) -> List[Dict[str, object]]:
    """Snap every active spline edge to its best library function, layer by layer.

    Later layers are fitted on the inputs the already-snapped layers produce. ``'0'`` is only a
    candidate (and always one) for edges whose attribution score (:func:`kanlab.attribution.attribute`,
    computed before snapping) is below ``zero_threshold``: an important edge is never snapped to
    a constant, a dead one never to a fitted curve. An edge whose best fit has R^2 below
    ``r2_threshold`` (default 0.9; pykan's 0 snaps everything) stays a spline, and a
    ``UserWarning`` lists the edges kept so: a formula built on a poor fit would be wrong
    without saying so (``symbolic_formula`` refuses a model with spline edges; fix them by hand,
    give a richer ``lib``, or retrain sparser). ``layers`` restricts snapping to those layers
    (e.g. a different ``lib`` per layer: call once per layer). Returns the rows
    ``{l, i, j, name, r2}`` of the fixed edges.
    """
    r2_threshold = check_real("r2_threshold", r2_threshold, high=1.0, finite=False)
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
                fit, _, _ = rank_functions(inp[:, i], acts[:, j, i], cand, weight_simple)[0]
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
                      UserWarning, stacklevel=2)
    return fixed
