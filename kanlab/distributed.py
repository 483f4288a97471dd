"""Grid updates under ``torch.distributed``: every rank must end with the same grids.

A KAN's knots are buffers that every rank of a data-parallel job must agree on, and a grid update
refits the coefficients to the samples it sees. Called on each rank with that rank's shard,
:meth:`KAN.update_grid_from_samples <kanlab.model.KAN.update_grid_from_samples>` and
:meth:`KAN.refine <kanlab.model.KAN.refine>` first gather the samples of all ranks
(:func:`gather_rows`), so each computes the update of the whole data set, then take rank 0's
result (:func:`broadcast_state`) so the ranks agree bit for bit even where a device's kernels are
not deterministic. Without an initialised process group (or with one rank) both are no-ops.
"""
from __future__ import annotations

import warnings

import torch
from torch import nn

from .validation import user_stacklevel

__all__ = ["world_size", "gather_rows", "mean_over_ranks", "broadcast_state", "warn_rewrap"]


def world_size() -> int:
    """Ranks in the default process group, 1 when ``torch.distributed`` is not initialised."""
    dist = torch.distributed
    return dist.get_world_size() if dist.is_available() and dist.is_initialized() else 1


def gather_rows(x: torch.Tensor) -> torch.Tensor:
    """All ranks' rows of ``x`` ``(n_rank, d)`` concatenated in rank order ``(sum n_rank, d)``;
    ``x`` itself when not distributed. Shards may differ in size (padded for the collective)."""
    if world_size() == 1:
        return x
    dist = torch.distributed
    sizes = [torch.zeros(1, dtype=torch.long, device=x.device) for _ in range(world_size())]
    dist.all_gather(sizes, torch.tensor([x.shape[0]], dtype=torch.long, device=x.device))
    counts = [int(s.item()) for s in sizes]
    padded = x.new_zeros(max(counts), *x.shape[1:])
    padded[: x.shape[0]] = x
    parts = [torch.empty_like(padded) for _ in counts]
    dist.all_gather(parts, padded.contiguous())
    return torch.cat([p[:n] for p, n in zip(parts, counts)])


def mean_over_ranks(value: float) -> float:
    """The mean of ``value`` over all ranks (``value`` itself when not distributed), so that a
    choice made from it (e.g. ``fit``'s start, :mod:`kanlab.starts`) is the same on every rank."""
    if world_size() == 1:
        return value
    t = torch.tensor([value], dtype=torch.float64)
    if torch.distributed.get_backend() == "nccl":
        t = t.cuda()
    torch.distributed.all_reduce(t)
    return float(t.item()) / world_size()


@torch.no_grad()
def broadcast_state(module: nn.Module) -> None:
    """Copy rank 0's parameters and buffers into every rank's ``module`` (in place)."""
    if world_size() == 1:
        return
    for tensor in list(module.parameters()) + list(module.buffers()):
        torch.distributed.broadcast(tensor.data, src=0)


def warn_rewrap() -> None:
    """Warn that parameters changed shape: a ``DistributedDataParallel`` wrapper (and any
    optimizer) built before still holds the old parameters and would not average the new ones."""
    if world_size() > 1:
        warnings.warn(
            "refine changed the coefficient shapes: wrap the model in a new DistributedDataParallel "
            "and build a new optimizer, or the new coefficients are not averaged across ranks",
            RuntimeWarning, stacklevel=user_stacklevel(),
        )
