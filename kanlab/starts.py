"""Choosing a start: the sign patterns ``fit`` tries on a new model's narrow layers.

A KAN's base weights ``scale_base`` fix, at the start, which way each edge is oriented. pykan 0.2
draws them with random signs, and on small networks some sign patterns cannot be trained out of:
with ``KAN([2, 1, 1])`` on exp(sin(pi x) + y^2), x and y edges of opposite sign make the output
edge fold its input and the fit sticks at RMSE 0.65 (4 of seeds 0-9). No fixed pattern suits every
problem: equal positive weights rescue that one but can never form the ``x - y`` node that
``x * y = ((x + y)^2 - (x - y)^2) / 4`` needs, which Walsh patterns (rows ``(-1)^popcount(i & j)``)
start with; those in turn stall on the KAN paper's 4-d function. So :func:`kanlab.train.fit`
tries each on a fresh model for a few steps and keeps the lowest training loss
(``python -m benchmarks.seeds`` measures the effect over seeds).

Only layers of fan-in up to :data:`NARROW_FAN_IN` get a pattern: wide layers keep their random
signs (equal weights there add a common mode growing like ``sqrt(fan_in)``).
"""
from __future__ import annotations

import math
from typing import TYPE_CHECKING, Callable, Dict, List, Optional, Tuple

import torch

from . import distributed
from .loop import clone_state

if TYPE_CHECKING:  # pragma: no cover
    from .network import KANNetwork

__all__ = ["NARROW_FAN_IN", "walsh_signs", "start_patterns", "choose_start"]

#: fan-in up to which a layer's base weights are given a sign pattern
NARROW_FAN_IN = 8


def walsh_signs(out_dim: int, in_dim: int, *, device=None, dtype=None) -> torch.Tensor:
    """``(out_dim, in_dim)`` signs ``(-1)^popcount(i & j)``: row 0 all positive, the others
    balanced (for ``in_dim`` a power of two), as in a Hadamard matrix; rows repeat past the
    first power of two ``>= in_dim``."""
    period = 1 << max(in_dim - 1, 0).bit_length()
    i = torch.arange(out_dim).remainder(period)[:, None]
    j = torch.arange(in_dim)[None, :]
    bits = i & j
    parity = torch.zeros_like(bits)
    while bool(bits.any()):
        parity ^= bits & 1
        bits = bits >> 1
    return (1 - 2 * parity).to(device=device, dtype=dtype)


def start_patterns(model: KANNetwork) -> Dict[str, List[Optional[torch.Tensor]]]:
    """The candidate starts: name -> one ``scale_base`` per layer (None: keep the layer's).

    "as built" keeps the model as constructed; "equal" gives every narrow layer equal positive
    weights ``1 / sqrt(fan_in)``; "walsh" gives them :func:`walsh_signs` of that size. A
    candidate identical to an earlier one (a single-output layer's Walsh row is "equal") is
    dropped; with no narrow layer (or none whose base term is used) only "as built" remains.
    """
    candidates: Dict[str, List[Optional[torch.Tensor]]] = {"as built": [None] * len(model.layers)}
    for name in ("equal", "walsh"):
        weights: List[Optional[torch.Tensor]] = []
        for layer in model.layers:
            sb = layer.scale_base
            if layer.in_dim > NARROW_FAN_IN or not sb.requires_grad:
                weights.append(None)
                continue
            signs = walsh_signs(layer.out_dim, layer.in_dim, device=sb.device, dtype=sb.dtype)
            weights.append((signs if name == "walsh" else signs.abs()) / math.sqrt(layer.in_dim))
        if any(w is not None for w in weights) and not any(_same(weights, other) for other in candidates.values()):
            candidates[name] = weights
    return candidates


def _same(a: List[Optional[torch.Tensor]], b: List[Optional[torch.Tensor]]) -> bool:
    return all((x is None) == (y is None) and (x is None or torch.equal(x, y)) for x, y in zip(a, b))


@torch.no_grad()
def _apply(model: KANNetwork, weights: List[Optional[torch.Tensor]]) -> None:
    for layer, w in zip(model.layers, weights):
        if w is not None:
            layer.scale_base.copy_(w)


def choose_start(model: KANNetwork, train: Callable[[], float]) -> Tuple[Dict[str, float], str]:
    """Run ``train()`` (a few steps; returns the final training loss) from each of
    :func:`start_patterns` in turn, and leave ``model`` in the trained state of the lowest loss
    (the first on ties, so "as built" wins unless another start is strictly better; a NaN loss
    never wins); under ``torch.distributed`` the losses are averaged over the ranks first, so all
    ranks choose alike. Returns ``({candidate: loss} in the order tried, the winner)``; whatever
    ``train`` records (histories) is the caller's to keep for the winner."""
    initial = clone_state(model)
    losses: Dict[str, float] = {}
    best, best_state = "", initial
    for name, weights in start_patterns(model).items():
        if losses:
            model.load_state_dict(initial)
        _apply(model, weights)
        loss = distributed.mean_over_ranks(float(train()))  # every rank makes the same choice
        losses[name] = loss
        if not best or (math.isfinite(loss) and not loss >= losses[best]):
            best, best_state = name, clone_state(model)
    if best != name:
        model.load_state_dict(best_state)
    return losses, best
