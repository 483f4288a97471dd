"""Data-parallel ``fit`` and grid updates under ``torch.distributed``: every rank must end identical.

A KAN's knots are buffers that every rank of a data-parallel job must agree on, and a grid update
refits the coefficients to the samples it sees. Called on each rank with that rank's shard,
:meth:`KAN.update_grid_from_samples <kanlab.model.KAN.update_grid_from_samples>` and
:meth:`KAN.refine <kanlab.model.KAN.refine>` first gather the samples of all ranks
(:func:`gather_rows`), so each computes the update of the whole data set, then take rank 0's
result (:func:`broadcast_state`) so the ranks agree bit for bit even where a device's kernels are
not deterministic. ``fit`` under ``torchrun`` trains each rank on its rows
(:func:`shard_rows`) and averages gradients and losses over the ranks in every evaluation
(:func:`reduce_gradients`), so the optimisers stay identical (LBFGS's line search included);
only rank 0 shows progress and writes files (:func:`is_main`). Without an initialised process
group (or with one rank) all of these are no-ops.
"""
from __future__ import annotations

import warnings
from typing import Sequence, Tuple

import torch
from torch import nn

from .validation import user_stacklevel

__all__ = ["world_size", "rank", "is_main", "gather_rows", "mean_over_ranks", "weighted_mean", "broadcast_state",
           "shard_rows", "reduce_gradients", "warn_rewrap"]


def world_size() -> int:
    """Ranks in the default process group, 1 when ``torch.distributed`` is not initialised."""
    dist = torch.distributed
    return dist.get_world_size() if dist.is_available() and dist.is_initialized() else 1


def rank() -> int:
    """This process's rank in the default process group, 0 when not distributed."""
    return torch.distributed.get_rank() if world_size() > 1 else 0


def is_main() -> bool:
    """Whether this process writes files and shows progress: rank 0, or not distributed."""
    return rank() == 0


def _collective_device(t: torch.Tensor) -> torch.device:
    """Where a collective's tensor must live: NCCL needs CUDA tensors, gloo takes any."""
    if torch.distributed.get_backend() == "nccl" and t.device.type != "cuda":
        return torch.device("cuda", torch.cuda.current_device())
    return t.device


def shard_rows(tensors: Sequence[torch.Tensor]) -> Tuple[torch.Tensor, ...]:
    """This rank's rows ``rank, rank + world, ...`` of every tensor ``(n, ...)`` when all ranks hold
    the same tensors (a data set every rank built alike, as ``create_dataset(seed=...)`` does);
    the tensors unchanged when they differ between ranks (each rank already passed its shard)
    or when not distributed. Ranks compare a fingerprint (row count, sum, sum of squares)."""
    tensors = tuple(tensors)
    if world_size() == 1 or not tensors:
        return tensors
    dev = _collective_device(tensors[0])
    finger = torch.tensor([v for t in tensors for v in (t.shape[0], float(t.double().sum()), float(t.double().square().sum()))],
                          dtype=torch.float64, device=dev)
    low, high = finger.clone(), finger.clone()
    torch.distributed.all_reduce(low, op=torch.distributed.ReduceOp.MIN)
    torch.distributed.all_reduce(high, op=torch.distributed.ReduceOp.MAX)
    if not torch.equal(low, high):
        return tensors
    return tuple(t[rank()::world_size()] for t in tensors)


def weighted_mean(value: float, weight: float) -> float:
    """``sum(value * weight) / sum(weight)`` over ranks (``value`` when not distributed): a mean
    over all rows from each rank's mean over its ``weight`` rows."""
    if world_size() == 1:
        return value
    t = torch.tensor([value * weight, weight], dtype=torch.float64)
    t = t.to(_collective_device(t))
    torch.distributed.all_reduce(t)
    return float(t[0] / t[1])


@torch.no_grad()
def reduce_gradients(value: torch.Tensor, params: Sequence[torch.Tensor], weight: float) -> torch.Tensor:
    """After each rank's backward of its objective ``value`` (a mean over its ``weight`` rows):
    every parameter's gradient and the value become their row-weighted means over all ranks, in
    one ``all_reduce``, so every rank's optimiser takes the same step. Returns the mean value
    (detached)."""
    grads = [p.grad if p.grad is not None else torch.zeros_like(p) for p in params]
    flat = torch.cat([value.detach().reshape(1).to(grads[0].dtype), grads[0].new_ones(1)] + [g.reshape(-1) for g in grads])
    dev = _collective_device(flat)
    flat = (flat * weight).to(dev)
    torch.distributed.all_reduce(flat)
    flat = (flat / flat[1]).to(grads[0].device)
    offset = 2
    for p, g in zip(params, grads):
        n = g.numel()
        if p.grad is None:
            p.grad = g
        p.grad.copy_(flat[offset : offset + n].view_as(g))
        offset += n
    return flat[0].to(value.dtype)


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
    return weighted_mean(value, 1.0)


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
