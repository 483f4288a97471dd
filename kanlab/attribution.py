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

from typing import TYPE_CHECKING, Dict, List, Optional

import torch

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
    node_scores: List[torch.Tensor] = [torch.ones(model.width[-1], dtype=data.dtype, device=data.device)]
    edge_scores: List[torch.Tensor] = []
    for l in reversed(range(model.depth)):
        sub_scores = node_scores[0][model.node_of_sub(l + 1)]  # a product's factors share its score
        e = sub_scores[:, None] * forward_n[l]
        edge_scores.insert(0, e)
        node_scores.insert(0, e.sum(0))
    scores = {"node_scores": node_scores, "edge_scores": edge_scores, "forward_u": edge_std, "forward_n": forward_n}
    return scores
