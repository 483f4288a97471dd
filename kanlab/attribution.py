"""Attribution: the KAN 2.0 backward scores of nodes and edges, as a pure function.

Scores on data ``x`` (default ``model.cache_data``): every output node scores 1; going backwards,
edge ``i -> j`` of layer ``l`` scores ``node_score[l+1][j] * std(phi_lji) / std(x_{l+1, j})``
(its share of node ``j``'s spread, times node ``j``'s importance) and node ``i`` of layer ``l``
scores the sum of its outgoing edges. ``node_scores[0]`` is the input (feature) importance. A
switched-off edge (masked, not symbolic) scores 0, and so does every edge out of a node whose
incoming edges are all switched off (its value is constant), so such a node scores 0; a node
kept by ``prune_node`` may still lose all its edges to ``prune_edge`` afterwards, which is why
``prune`` then drops dead nodes (:func:`kanlab.prune.live_nodes`).
The scores are returned, never written onto the model (``KAN.attribute`` keeps the last ones
for pykan's ``node_scores``/``edge_scores``/``feature_score``).
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Dict, List, Optional, Tuple

import torch

from .validation import check_real

if TYPE_CHECKING:  # pragma: no cover
    from .network import KANNetwork


@torch.no_grad()
def attribute(model: KANNetwork, x: Optional[torch.Tensor] = None) -> Dict[str, List[torch.Tensor]]:
    """Backward attribution scores on ``x`` ``(batch, width[0])``.

    Returns ``{"node_scores": [(width[l],) per layer
    l = 0..depth], "edge_scores": [(out_l, in_l) per layer], "forward_u": [(out_l, in_l)] edge
    value spreads, "forward_n": [(out_l, in_l)] spreads over the output node's}``, where
    ``out_l = model.n_sub(l + 1)`` counts sub-nodes (one per factor of a multiplication node).
    """
    data = model.data(x)
    inputs = model.layer_inputs(data)
    acts = [model.edge_activations(l, inp) for l, inp in enumerate(inputs)]
    edge_std = [a.std(0) if a.shape[0] > 1 else a.abs().mean(0) for a in acts]  # (out, in)
    node_std = [e_act.sum(-1).std(0) if e_act.shape[0] > 1 else e_act.sum(-1).abs().mean(0) for e_act in acts]
    forward_n = [e / (n[:, None] + 1e-8) for e, n in zip(edge_std, node_std)]
    top = torch.ones(1, model.width[-1], dtype=data.dtype, device=data.device)
    nodes, edges = backward_scores(model, forward_n, top, model.depth)
    node_scores, edge_scores = [n[0] for n in nodes], [e[0] for e in edges]
    scores = {"node_scores": node_scores, "edge_scores": edge_scores, "forward_u": edge_std, "forward_n": forward_n}
    return scores


@torch.no_grad()
def node_input_scores(model: KANNetwork, l: int, x: Optional[torch.Tensor] = None) -> torch.Tensor:
    """pykan's ``attribute(l)``: how much each input matters to each node of node layer ``l``.

    Row ``k`` of the returned ``(width[l], width[0])`` starts the backward recursion of
    :func:`attribute` from node ``k`` of layer ``l`` alone, weighted by that node's score in the
    whole network (so rows of unimportant nodes are small), on ``x`` (default ``cache_data``).
    """
    if not isinstance(l, int) or not 0 <= l <= model.depth:
        raise ValueError(f"l must be a node layer index in 0..{model.depth}, got {l!r}")
    return _node_rows(model, attribute(model, x), l)


def _node_rows(model: KANNetwork, scores: Dict[str, List[torch.Tensor]], l: int) -> torch.Tensor:
    """:func:`node_input_scores`' ``(width[l], width[0])`` from :func:`attribute`'s ``scores``."""
    top = torch.diag(scores["node_scores"][l])
    return backward_scores(model, scores["forward_n"], top, l)[0][0]


def backward_scores(model: KANNetwork, forward_n: List[torch.Tensor], top: torch.Tensor,
                    start: int) -> Tuple[List[torch.Tensor], List[torch.Tensor]]:
    """The backward recursion from node layer ``start`` with ``top (K, width[start])`` (K score
    vectors at once): node scores ``(K, width[l])`` for l = 0..start and edge scores ``(K, out_l,
    in_l)`` for the layers below ``start``."""
    node_scores, edge_scores = [top], []
    for l in reversed(range(start)):
        sub_scores = node_scores[0][:, model.node_of_sub(l + 1)]  # a product's factors share its score
        e = sub_scores[:, :, None] * forward_n[l]
        edge_scores.insert(0, e)
        node_scores.insert(0, e.sum(1))
    return node_scores, edge_scores


@torch.no_grad()
def node_attribute(model: KANNetwork, x: Optional[torch.Tensor] = None) -> List[torch.Tensor]:
    """pykan's ``node_attribute``: :func:`node_input_scores` of every node layer above the inputs,
    ``[(width[l], width[0]) for l = 1..depth]`` (row ``k`` of entry ``l - 1``: how much each input
    matters to node ``k`` of layer ``l``), on ``x`` (default ``cache_data``). Returned (the
    facade keeps it as ``model.node_attribute_scores``, pykan's attribute)."""
    scores = attribute(model, x)
    return [_node_rows(model, scores, l) for l in range(1, model.depth + 1)]


@torch.no_grad()
def feature_interaction(model: KANNetwork, l: int, neuron_th: float = 1e-2, feature_th: float = 1e-2,
                        x: Optional[torch.Tensor] = None) -> Dict[Tuple[int, ...], int]:
    """pykan's ``feature_interaction``: which groups of inputs the nodes of node layer ``l`` combine.

    For each node ``k`` of layer ``l`` whose largest input score (:func:`node_input_scores` on
    ``x``, default ``cache_data``) exceeds ``neuron_th``, its features are the inputs scoring
    above ``feature_th`` times that largest score, as an increasing tuple of input positions
    (``model.input_id`` maps them to original columns after ``prune_input``). Returns
    ``{features: number of nodes with exactly those features}``.
    """
    neuron_th = check_real("neuron_th", neuron_th, low=0)
    feature_th = check_real("feature_th", feature_th, low=0)
    counts: Dict[Tuple[int, ...], int] = {}
    for row in node_input_scores(model, l, x):
        top = row.max()
        if top > neuron_th:
            features = tuple((row > top * feature_th).nonzero().flatten().tolist())
            counts[features] = counts.get(features, 0) + 1
    return counts
