"""Sparsity regularisers: the KAN paper's, and pykan 0.2.8's five ``reg_metric`` choices.

Every metric turns each layer's edges into a non-negative *scale* matrix, then penalises its
sum (L1) and the entropy of its normalised entries; ``lamb_coef``/``lamb_coefdiff`` add
coefficient-magnitude and smoothness terms.

- ``"edge_forward_mean"`` (kanlab's default, the KAN paper's): per edge the mean ``|phi|`` over
  the batch; the entropy is that of the layer's norms divided by their sum. Coefficient terms:
  the mean ``|coef|`` (``|diff coef|``) of each edge, summed over the edges.
- pykan's metrics, computed as pykan 0.2.8's ``MultKAN.reg``: ``"edge_forward_spline_n"`` (pykan's
  default) ``std(spline part of phi) / (std(x) + 0.1)``; ``"edge_forward_spline_u"``
  ``std(phi)``; ``"edge_forward_sum"`` ``std(phi) / (std(x) + 0.1)``; ``"edge_backward"`` the
  edges' attribution scores; ``"node_backward"`` per node layer ``l >= 1`` the
  ``(width[l], width[0])`` input scores of each node (pykan's ``node_attribute``). Standard
  deviations are over the batch (``ddof = 1``); ``phi`` includes symbolic edges (as pykan's
  ``postacts``), the spline part is base + spline, masked. Entropy: of the rows and of the
  columns, each normalised by its sum + 1, ``log2``, averaged and added. Coefficient terms:
  per layer the sum over inputs and basis functions of the mean ``|coef|`` over outputs.
  One difference: pykan detaches ``"edge_forward_sum"``'s scales (its L1 and entropy then pass
  no gradient); kanlab's are differentiable like the other metrics'.

The backward scores follow pykan's ``attribute`` (edge spread over its sub-node's, ``+ 1e-4``,
the sub-node spread detached; every output scores 1, averaged over the outputs), through
:mod:`kanlab.attribution`'s recursion.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, List, Optional, Sequence, Tuple

import torch
from torch import nn

from .attribution import backward_scores

if TYPE_CHECKING:  # pragma: no cover
    from .network import KANNetwork

__all__ = ["REG_METRICS", "DEFAULT_REG_METRIC", "check_reg_metric", "regularizer", "edge_scales", "penalty",
           "forward_with_reg", "reg"]

#: pykan's five metrics plus kanlab's (first, the default)
REG_METRICS: Tuple[str, ...] = ("edge_forward_mean", "edge_forward_spline_n", "edge_forward_spline_u",
                                "edge_forward_sum", "edge_backward", "node_backward")
DEFAULT_REG_METRIC = "edge_forward_mean"
_BACKWARD = ("edge_backward", "node_backward")


def check_reg_metric(reg_metric: str) -> str:
    """``reg_metric`` if it is one of :data:`REG_METRICS`, else a ``ValueError`` listing them."""
    if reg_metric not in REG_METRICS:
        raise ValueError(f"reg_metric must be one of {REG_METRICS}, got {reg_metric!r}")
    return reg_metric


def regularizer(
    acts: Sequence[torch.Tensor],
    layers: Sequence[nn.Module],
    lamb_l1: float = 1.0,
    lamb_entropy: float = 2.0,
    lamb_coef: float = 0.0,
    lamb_coefdiff: float = 0.0,
) -> torch.Tensor:
    """The KAN paper's sparsity regulariser (``"edge_forward_mean"``) from edge activations.

    ``acts[l]``: edge activations ``(batch, out_l, in_l)``. Per layer, the L1 norm of each edge is
    its mean ``|phi|`` over the batch; the layer's L1 is their sum and its entropy is that of the
    normalised norms. Optional terms: mean ``|coef|`` and mean ``|diff(coef)|`` per edge.
    """
    return _paper_penalty([phi.abs().mean(0) for phi in acts], layers, lamb_l1, lamb_entropy, lamb_coef,
                          lamb_coefdiff)


def _paper_penalty(norms: Sequence[torch.Tensor], layers: Sequence[nn.Module], lamb_l1: float, lamb_entropy: float,
                   lamb_coef: float, lamb_coefdiff: float) -> torch.Tensor:
    """:func:`regularizer` from the per-edge norms ``(out_l, in_l)``."""
    reg = norms[0].new_zeros(())
    for norm, layer in zip(norms, layers):
        total = norm.sum()
        p = norm / (total + 1e-12)
        entropy = -(p * torch.log(p + 1e-12)).sum()
        reg = reg + lamb_l1 * total + lamb_entropy * entropy
        if lamb_coef:
            reg = reg + lamb_coef * layer.coef.abs().mean(-1).sum()
        if lamb_coefdiff:
            reg = reg + lamb_coefdiff * torch.diff(layer.coef, dim=-1).abs().mean(-1).sum()
    return reg


def edge_scales(model: KANNetwork, x: torch.Tensor, reg_metric: str) -> Tuple[torch.Tensor, List[torch.Tensor]]:
    """One forward pass on ``x`` ``(batch, width[0])``: the output ``(batch, width[-1])`` and the
    metric's scale matrix per layer (``(n_sub(l + 1), width[l])`` for the edge metrics,
    ``(width[l + 1], width[0])`` for ``"node_backward"``), differentiable in the parameters."""
    check_reg_metric(reg_metric)
    if reg_metric != DEFAULT_REG_METRIC and x.shape[0] < 2:
        raise ValueError(f"reg_metric={reg_metric!r} takes standard deviations over the batch, which needs at "
                         f"least 2 rows, got {x.shape[0]}: use batch >= 2 or reg_metric={DEFAULT_REG_METRIC!r}")
    scales = []
    for l in range(model.depth):
        spline = model.layers[l].edge_activations(x)  # (batch, out, in): base + spline, masked
        sym = model.symbolic[l]
        phi = spline + sym.edge_activations(x) if sym.n_active else spline
        sub = phi.sum(-1)  # (batch, out)
        if reg_metric == DEFAULT_REG_METRIC:
            scales.append(phi.abs().mean(0))
        elif reg_metric in _BACKWARD:  # pykan's edge_actscale / (subnode_actscale + 1e-4)
            scales.append(phi.std(0) / (sub.detach().std(0) + 1e-4).unsqueeze(-1))
        else:
            spread = (spline if reg_metric == "edge_forward_spline_n" else phi).std(0)
            scales.append(spread if reg_metric == "edge_forward_spline_u" else spread / (x.std(0) + 0.1))
        x = model.nodes(l + 1, sub)
    if reg_metric in _BACKWARD:
        scales = _backward_scales(model, scales, reg_metric)
    return x, scales


def _backward_scales(model: KANNetwork, forward_n: List[torch.Tensor], reg_metric: str) -> List[torch.Tensor]:
    """pykan's ``edge_scores`` (``"edge_backward"``) or ``node_attribute_scores`` (``"node_backward"``)
    from each layer's ``forward_n`` ``(n_sub(l + 1), width[l])``."""
    top = torch.eye(model.width[-1], dtype=forward_n[0].dtype, device=forward_n[0].device)
    nodes, edges = backward_scores(model, forward_n, top, model.depth)
    if reg_metric == "edge_backward":
        return [e.mean(0) for e in edges]
    return [backward_scores(model, forward_n, torch.diag(nodes[l].mean(0)), l)[0][0] for l in range(1, model.depth + 1)]


def penalty(
    scales: Sequence[torch.Tensor],
    layers: Sequence[nn.Module],
    reg_metric: str,
    lamb_l1: float = 1.0,
    lamb_entropy: float = 2.0,
    lamb_coef: float = 0.0,
    lamb_coefdiff: float = 0.0,
) -> torch.Tensor:
    """The regulariser from :func:`edge_scales`' matrices (see the module docstring for each
    metric's L1, entropy and coefficient terms)."""
    if check_reg_metric(reg_metric) == DEFAULT_REG_METRIC:
        return _paper_penalty(scales, layers, lamb_l1, lamb_entropy, lamb_coef, lamb_coefdiff)
    reg = scales[0].new_zeros(())
    for vec in scales:
        p_row = vec / (vec.sum(1, keepdim=True) + 1)
        p_col = vec / (vec.sum(0, keepdim=True) + 1)
        entropy_row = -(p_row * torch.log2(p_row + 1e-4)).sum(1).mean()
        entropy_col = -(p_col * torch.log2(p_col + 1e-4)).sum(0).mean()
        reg = reg + lamb_l1 * vec.sum() + lamb_entropy * (entropy_row + entropy_col)
    for layer in layers:  # coef (out, in, n_basis): the mean over outputs, summed
        if lamb_coef:
            reg = reg + lamb_coef * layer.coef.abs().mean(0).sum()
        if lamb_coefdiff:
            reg = reg + lamb_coefdiff * torch.diff(layer.coef, dim=-1).abs().mean(0).sum()
    return reg


def forward_with_reg(
    model: KANNetwork,
    x: torch.Tensor,
    reg_metric: str = DEFAULT_REG_METRIC,
    lamb_l1: float = 1.0,
    lamb_entropy: float = 2.0,
    lamb_coef: float = 0.0,
    lamb_coefdiff: float = 0.0,
) -> Tuple[torch.Tensor, torch.Tensor]:
    """The output ``(batch, width[-1])`` on ``x`` ``(batch, width[0])`` and the regulariser
    (a scalar), from one forward pass (what ``fit`` runs when ``lamb > 0``)."""
    model.check_input(x)
    pred, scales = edge_scales(model, x, reg_metric)
    return pred, penalty(scales, model.layers, reg_metric, lamb_l1, lamb_entropy, lamb_coef, lamb_coefdiff)


def reg(
    model: KANNetwork,
    reg_metric: str = DEFAULT_REG_METRIC,
    lamb_l1: float = 1.0,
    lamb_entropy: float = 2.0,
    lamb_coef: float = 0.0,
    lamb_coefdiff: float = 0.0,
    *,
    x: Optional[torch.Tensor] = None,
) -> torch.Tensor:
    """pykan's ``reg``/``get_reg``: the regulariser (a differentiable scalar tensor) on ``x``
    ``(batch, width[0])``, by default on the recorded data (``get_act(x)``, or the last ``fit``'s
    training inputs). pykan's reads the activations its last forward pass stored (and, for the
    backward metrics, the scores of the last ``attribute()``/``node_attribute()`` call);
    kanlab's forward stores nothing, so ``reg`` computes them now, with the current parameters.
    """
    return forward_with_reg(model, model.data(x), reg_metric, lamb_l1, lamb_entropy, lamb_coef, lamb_coefdiff)[1]
