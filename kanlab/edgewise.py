"""Every edge's value ``phi[b, o, i]`` of a small B-spline layer, for the sparsity regulariser.

``fit(lamb > 0)`` needs each edge's activation on the whole batch (the paper's mean ``|phi|``)
and the layer output is their sum, so that pass *is* the forward of a regularised closure. The
reference formulation (dense basis, then an einsum, autograd through both) recomputes and
back-propagates through the ~40 small operations of the basis on every evaluation.
:func:`edge_values` instead keeps the features (and their slopes, when ``x`` needs a gradient)
from the forward, as :func:`kanlab.kernels.spline_linear` does for small layers, takes an input
layer's features from the plan when the fit's inputs are unchanged, and back-propagates with two
batched matrix products. ``create_graph=True`` recomputes the features in differentiable
operations, so second derivatives stay exact.
"""
from __future__ import annotations

from typing import Any, Optional

import torch

from .kernels import SAVE_FEATURES_ELEMENTS, BaseRow, LocalBasis, _features, _input_features

__all__ = ["edge_values", "fits_edge_values"]


def fits_edge_values(plan: LocalBasis, x: torch.Tensor, rows: int) -> bool:
    """Whether :func:`edge_values` applies: eager (no ``torch.compile`` trace, no ``torch.func``
    transform), ``x`` ``(batch >= 1, in_dim)`` and features of at most
    :data:`~kanlab.kernels.SAVE_FEATURES_ELEMENTS` elements (``rows`` per input)."""
    return (x.dim() == 2 and 0 < x.shape[0] * rows * x.shape[1] <= SAVE_FEATURES_ELEMENTS
            and not torch.compiler.is_compiling() and not torch._C._are_functorch_transforms_active()
            and not torch.is_autocast_enabled(x.device.type))


def _matrices(feats: torch.Tensor, b: int, in_dim: int) -> torch.Tensor:
    """``(batch, rows * in_dim)`` basis-major features -> ``(in_dim, batch, rows)``."""
    return feats.view(b, -1, in_dim).permute(2, 0, 1)


class _EdgeValues(torch.autograd.Function):
    @staticmethod
    def forward(ctx: Any, x: torch.Tensor, w: torch.Tensor, plan: LocalBasis,  # type: ignore[override]
                base: Optional[BaseRow]) -> torch.Tensor:
        ctx.plan, ctx.base = plan, base
        ctx.save_for_backward(x, w)
        if ctx.needs_input_grad[0]:
            ctx.features = plan.dense_pair(x, base)
        else:
            ctx.features = (_input_features(plan, x, base), None)
        b, in_dim = x.shape
        phi = torch.bmm(_matrices(ctx.features[0], b, in_dim), w.permute(2, 1, 0))  # (in, b, out)
        return phi.permute(1, 2, 0)

    @staticmethod
    def backward(ctx: Any, g: torch.Tensor) -> tuple:  # type: ignore[override]
        x, w = ctx.saved_tensors
        b, in_dim = x.shape
        need_x, need_w = ctx.needs_input_grad[0], ctx.needs_input_grad[1]
        if torch.is_grad_enabled():  # create_graph: differentiable features of the saved x
            feats = _features(ctx.plan, x, ctx.base, 0)
            slope = _features(ctx.plan, x, ctx.base, 1) if need_x else None
        else:
            feats, slope = ctx.features
        g_t = g.permute(2, 0, 1)  # (in, b, out)
        gx = gw = None
        if need_w:
            gw = torch.bmm(_matrices(feats, b, in_dim).transpose(1, 2), g_t).permute(2, 1, 0)  # (out, rows, in)
        if need_x:
            per_row = torch.bmm(g_t, w.permute(2, 0, 1))  # (in, b, rows): sum_o g[b, o, i] w[o, r, i]
            gx = (per_row * _matrices(slope, b, in_dim)).sum(-1).T  # type: ignore[arg-type]
        return gx, gw, None, None


def edge_values(x: torch.Tensor, w: torch.Tensor, plan: LocalBasis, base: Optional[BaseRow] = None) -> torch.Tensor:
    """``phi[b, o, i] = sum_r F_r(x[b, i]) w[o, r, i]``: the ``n_basis`` B-splines of ``plan`` and,
    when ``base = (b, b')`` is given, the base function as row ``n_basis``. ``x``: ``(batch,
    in_dim)``; ``w``: ``(out, n_basis [+ 1], in_dim)``. Returns ``(batch, out, in_dim)``; twice
    differentiable. Callers check :func:`fits_edge_values` first."""
    rows = plan.n_basis + (base is not None)
    if x.ndim != 2 or w.ndim != 3 or w.shape[1:] != (rows, x.shape[1]):
        raise ValueError(f"expected x (batch, in) and w (out, {rows}, in), got {tuple(x.shape)} and {tuple(w.shape)}")
    return _EdgeValues.apply(x, w, plan, base)
