"""Model to model: pykan's ``copy``, ``initialize_grid_from_another_model`` and
``initialize_from_another_model``.

``initialize_from_another_model(other, x)`` makes a model of the same width, at its own grid
size, compute ``other``'s function: each layer's grid points interpolate ``other``'s (pykan's
``initialize_grid_from_parent``), its splines are the least-squares fit of ``other``'s splines
on the inputs each layer sees for ``x``, and the scales, masks and symbolic edges are copied.
With a grid size that is a multiple of ``other``'s (same spline order) the new spline space
contains the old one, so the function is reproduced to round-off.
"""
from __future__ import annotations

import copy
from typing import Optional, TypeVar

import torch

from . import splines
from .layer import KANLayer
from .network import KANNetwork

__all__ = ["copy_model", "initialize_grid_from_another_model", "initialize_from_another_model"]

Net = TypeVar("Net", bound=KANNetwork)


def copy_model(model: Net) -> Net:
    """pykan's ``model.copy()``: an independent deep copy of the same class (parameters, grids,
    masks, symbolic edges, config, recorded data); changing one never changes the other."""
    return copy.deepcopy(model)


@torch.no_grad()
def initialize_grid_from_another_model(model: Net, other: KANNetwork, x: Optional[torch.Tensor] = None) -> Net:
    """pykan's ``initialize_grid_from_another_model``: take ``other``'s grids and splines at this
    model's grid sizes. Returns ``model``.

    For each layer ``l``: the new ``G + 1`` grid points interpolate ``other``'s layer-``l`` grid
    points piecewise linearly (an adapted grid keeps its density profile), and the spline
    coefficients ``(out, in, G + k)`` are the least-squares fit (float64 QR) of ``other``'s
    *unscaled* splines on the inputs ``other``'s layer ``l`` sees for ``x`` ``(batch, width[0])``
    (default: ``other``'s recorded data, ``cache_data``) together with points spanning its grid
    range (so basis functions the data misses still follow ``other``, where pykan's zeroes them).
    ``scale_base``, ``scale_sp``, masks and symbolic edges stay this model's; see
    :func:`initialize_from_another_model` for the whole function. Both models need the same
    ``width`` (and multiplication nodes) and B-spline layers; grid sizes and spline orders may
    differ. The model counts as trained afterwards (``fit`` tries no other starts on it).
    """
    _check_compatible(model, other)
    inputs = other.layer_inputs(other.data(x))
    for target, source, inp in zip(model.layers, other.layers, inputs):
        _fit_layer(target, source, inp)
    model.fresh = False
    return model


@torch.no_grad()
def initialize_from_another_model(model: Net, other: KANNetwork, x: Optional[torch.Tensor] = None) -> Net:
    """pykan's ``initialize_from_another_model``: make ``model`` (same width, any grid size)
    compute ``other``'s function; pykan's ``refine`` without a new model. Returns ``model``.

    Grids and splines as :func:`initialize_grid_from_another_model` (on ``x`` ``(batch,
    width[0])``, default ``other``'s recorded data), then ``scale_base``, ``scale_sp``, the edge
    masks, the symbolic edges (functions and affine constants) and ``input_id`` are copied from
    ``other``. Exact to round-off when each grid size is a multiple of ``other``'s (same spline
    order); otherwise the splines are least-squares fits on the data and the grid range.
    """
    initialize_grid_from_another_model(model, other, x)
    for target, source in zip(model.layers, other.layers):
        for name in ("scale_base", "scale_spline", "mask"):
            getattr(target, name).copy_(getattr(source, name))
    for target_sym, source_sym in zip(model.symbolic, other.symbolic):
        target_sym.load_state_dict(source_sym.state_dict())
    model.input_index.copy_(other.input_index)
    return model


def _check_compatible(model: KANNetwork, other: KANNetwork) -> None:
    """``TypeError``/``ValueError`` unless ``other`` is a network of ``model``'s width with B-spline layers."""
    if not isinstance(other, KANNetwork):
        raise TypeError(f"another model must be a KAN, got {type(other).__name__}")
    if (other.width, other.mult_width, other.mult_arity) != (model.width, model.mult_width, model.mult_arity):
        raise ValueError(f"another model must have the same width (grids may differ): this model has width "
                         f"{model.config['width']}, the other {other.config['width']}")
    for l, layer in enumerate(list(model.layers) + list(other.layers)):
        if getattr(layer, "knots", None) is None:
            raise ValueError(f"initializing from another model needs B-spline layers; layer {l % model.depth} of "
                             f"{'this' if l < model.depth else 'the other'} model uses "
                             f"{type(layer.edge_basis).__name__}")


def _fit_layer(target: KANLayer, source: KANLayer, x: torch.Tensor) -> None:
    """``target``'s grid points interpolate ``source``'s; its coefficients fit ``source``'s
    unscaled splines on ``x`` ``(batch, in)`` (``source``'s layer inputs) plus its grid range."""
    n_range = max(4 * (target.n_basis + source.n_basis), 64)
    fit_x = torch.cat([splines.resample_grid_points(source.grid, n_range - 1).T, x.to(source.grid)])
    values = source.spline_values(fit_x)  # (n, out, in)
    fit_x = fit_x.to(target.knots)
    target.set_grid(splines.resample_grid_points(source.grid.to(target.knots), target.grid_size), fit_x)
    target.coef.copy_(splines.fit_coef(fit_x, values.to(target.knots), target.knots, target.spline_order))
