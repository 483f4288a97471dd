"""Supervised training on tensors for any ``nn.Module`` (KANs and MLPs alike): the convenience
under the scikit-learn estimators (:mod:`kanlab.estimators`) and ``kanlab compare``
(:mod:`kanlab.compare`).

:func:`train_module` is :func:`kanlab.loop.train_loop` with a loss of ``(model, x, y, weights)``
rows, per-sample weights, LBFGS always on the full batch and optional printing; the loop supplies
the budget (steps and/or seconds), seeded mini-batches, early stopping with the best state
restored, and the NaN/Inf rollback. :func:`grid_update_hook` adapts a KAN's grids on pykan's
schedule. :class:`Standardizer` (per-column ``(x - mean) / scale``, shared by both callers) lives
in :mod:`kanlab.preprocessing` and is re-exported here.
"""
from __future__ import annotations

from typing import Callable, Optional

import torch
from torch import nn

from .loop import Hook, TrainResult, train_loop
from .preprocessing import Standardizer
from .train import grid_update_hook as _grid_update_hook
from .train import grid_update_steps

__all__ = ["Standardizer", "train_module", "grid_update_hook"]


# loss_fn(model, x (batch, in), y (batch, ...), w (batch,) or None) -> scalar tensor
LossFn = Callable[[nn.Module, torch.Tensor, torch.Tensor, Optional[torch.Tensor]], torch.Tensor]

GRID_UPDATE_ROWS = 4096  # at most this many training rows (evenly spaced) are used for a grid update


def grid_update_hook(model: nn.Module, x: torch.Tensor) -> Hook:
    """A ``before_step`` hook that adapts a KAN's grids to ``x`` ``(n, in)`` (at most
    ``GRID_UPDATE_ROWS`` evenly spaced rows) on pykan's default schedule: 10 updates in the
    first 50 steps (:func:`kanlab.train.grid_update_steps`)."""
    rows = x[torch.linspace(0, x.shape[0] - 1, min(x.shape[0], GRID_UPDATE_ROWS), device=x.device).long()]
    return _grid_update_hook(model, grid_update_steps(), rows)


def train_module(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    loss_fn: LossFn,
    *,
    weights: Optional[torch.Tensor] = None,
    opt: str = "Adam",
    lr: float = 1e-2,
    steps: int = 100,
    seconds: Optional[float] = None,
    batch_size: Optional[int] = None,
    seed: int = 0,
    monitor: Optional[Callable[[], float]] = None,
    monitor_every: int = 1,
    n_iter_no_change: Optional[int] = None,
    tol: float = 1e-4,
    restore_best: bool = False,
    before_step: Optional[Hook] = None,
    verbose: int = 0,
) -> TrainResult:
    """Train ``model`` on ``x`` ``(n, in)``, ``y`` ``(n, ...)`` for ``steps`` optimiser steps or
    until ``seconds`` of training time have passed, whichever comes first.

    Args:
        loss_fn: ``loss_fn(model, xb, yb, wb)`` returns the scalar objective of a batch; ``wb`` is
            the batch's slice of ``weights`` ``(n,)`` (``None`` when no weights are given).
        opt, lr: "LBFGS", "Adam" or "AdamW" and its learning rate. LBFGS always uses the full batch.
        batch_size, seed, monitor, monitor_every, n_iter_no_change, tol, restore_best: see
            :func:`kanlab.loop.train_loop` (mini-batches are seeded epochs; patience counts epochs).
        before_step: a hook ``before_step(step, batch)`` (``batch = (xb, yb[, wb])``), e.g.
            :func:`grid_update_hook`.
        verbose: print the loss every ``verbose`` steps (0: silent).

    A step whose loss or parameters turn NaN/Inf is rolled back and training stops with a
    ``RuntimeWarning`` (``stop_reason == "nan"``). Returns a :class:`kanlab.loop.TrainResult`.
    """
    data = (x, y) if weights is None else (x, y, weights)

    def objective(xb: torch.Tensor, yb: torch.Tensor, wb: Optional[torch.Tensor] = None) -> torch.Tensor:
        return loss_fn(model, xb, yb, wb)

    def report(result: TrainResult) -> None:
        if (result.n_iter - 1) % verbose == 0:
            print(f"step {result.n_iter - 1:>5}  loss {result.loss_curve[-1]:.4e}  time {result.seconds:.2f}s")

    return train_loop(
        model, objective, data, opt=opt, lr=lr, steps=steps, seconds=seconds,
        batch_size=None if opt == "LBFGS" else batch_size, seed=seed,
        before_step=[] if before_step is None else [before_step], monitor=monitor, monitor_every=monitor_every,
        n_iter_no_change=n_iter_no_change, tol=tol, restore_best=restore_best,
        on_step=report if verbose else None, progress=False,
    )
