"""``KAN(width, basis="auto")``: pick the basis family by a short validation run at the first ``fit``.

:func:`choose_basis` trains each candidate basis briefly on 80% of the training rows, scores it
on the rest and rebuilds the model with the winner; :func:`prepare_fit` is the hook
:func:`kanlab.train.fit` calls first (``KAN.prepare_fit``).
"""
from __future__ import annotations

import math
import time
import warnings
from typing import Callable, Dict, Optional, Sequence

import torch

from . import train
from .bases_family import BASIS_NAMES, check_basis_name
from .network import KANNetwork

__all__ = ["choose_basis", "prepare_fit", "AUTO_BASIS_STEPS", "AUTO_BASIS_VALIDATION"]

#: Optimiser steps (LBFGS) each candidate basis trains for in :func:`choose_basis`.
AUTO_BASIS_STEPS = 20
#: The share of the training rows :func:`choose_basis` holds out to compare the candidates on.
AUTO_BASIS_VALIDATION = 0.2


def prepare_fit(model: KANNetwork, dataset: Dict[str, torch.Tensor],
                loss_fn: Optional[Callable[[torch.Tensor, torch.Tensor], torch.Tensor]] = None,
                objective: Optional[Callable[..., torch.Tensor]] = None) -> None:
    """What :func:`kanlab.train.fit` runs first on a model that has it (``KAN.prepare_fit``):
    :func:`choose_basis` on a ``KAN(basis="auto")``'s first fit, nothing otherwise."""
    if model.basis_name != "auto":
        return
    if objective is not None:
        raise ValueError("basis='auto' compares the bases on held-out labelled rows, which fit(objective=...) "
                         "does not have: build the model with a basis name instead, e.g. KAN(width, "
                         f"basis='bspline') (one of {list(BASIS_NAMES)})")
    choose_basis(model, dataset, loss_fn=loss_fn)


def choose_basis(model: KANNetwork, dataset: Dict[str, torch.Tensor], candidates: Sequence[str] = BASIS_NAMES,
                 steps: int = AUTO_BASIS_STEPS, validation: float = AUTO_BASIS_VALIDATION, seed: int = 0,
                 loss_fn: Optional[Callable[[torch.Tensor, torch.Tensor], torch.Tensor]] = None,
                 verbose: bool = True) -> str:
    """Pick ``model``'s basis by a short validation run and rebuild its layers with it.

    The training rows of ``dataset`` (``train_input`` ``(n, in)``, ``train_label`` ``(n, out)``;
    the test split is never read) are split once, seeded by ``seed``: ``validation`` of them
    (20%) are held out. For each of ``candidates`` a new model of ``model``'s configuration with
    that basis is trained for ``steps`` LBFGS steps (``fit``'s defaults otherwise, but one start:
    ``starts=False``) on the rest, and
    scored by ``loss_fn`` (default: RMSE) on the held-out rows; the lowest wins (a non-finite
    score never does). ``model`` is then re-initialised with the winner (as ``KAN(...,
    basis=winner)`` would build it: the candidates' training is not kept), ``config["basis"]`` and
    ``model.basis_name`` name it, ``model.basis_scores`` keeps every score, and one line says what
    was picked (printed with ``verbose``, else a ``UserWarning``). Returns the winner's name.

    This is a short, honest heuristic: it ranks the families by how fast they fit this data
    in a few steps at the configured grid/degree, not by what they reach after a long fit.
    Costs ``len(candidates) * steps`` LBFGS steps on 80% of the rows.
    """
    for name in candidates:
        check_basis_name(name)
    if not candidates:
        raise ValueError(f"candidates must name at least one basis of {list(BASIS_NAMES)}")
    if any(sym.n_active for sym in model.symbolic):
        raise ValueError("choose_basis rebuilds the spline layers, but this model has symbolic edges: choose the basis "
                         "(or fit) before fixing edges symbolic")
    if not 0 < validation < 1:
        raise ValueError(f"validation must be a fraction in (0, 1), got {validation!r}")
    data = train.check_dataset(model, dataset, loss_fn_given=loss_fn is not None)
    x, y = data["train_input"], data["train_label"]
    n = x.shape[0]
    n_val = int(round(n * validation))
    if n_val < 1 or n - n_val < 2:
        raise ValueError(f"basis='auto' needs enough training rows to hold out {validation:.0%} of them, got {n}")
    order = torch.randperm(n, generator=torch.Generator().manual_seed(int(seed))).to(x.device)
    val, tr = order[:n_val], order[n_val:]
    score_fn = loss_fn or (lambda pred, target: torch.sqrt(torch.mean((pred - target) ** 2)))
    scores: Dict[str, float] = {}
    seconds: Dict[str, float] = {}
    for name in candidates:
        start = time.perf_counter()
        cand = _rebuilt(model, name)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            train.fit(cand, {"train_input": x[tr], "train_label": y[tr]}, steps=steps, progress=False,
                      loss_fn=loss_fn, starts=False)
        with torch.no_grad():
            value = float(score_fn(cand(x[val]), y[val]))
        scores[name] = value if math.isfinite(value) else math.inf
        seconds[name] = time.perf_counter() - start
    best = min(scores, key=lambda k: scores[k])
    model.layers = _rebuilt(model, best).layers
    model.config["basis"] = best
    model.basis_scores = scores
    table = ", ".join(f"{k} {v:.3g}" for k, v in sorted(scores.items(), key=lambda kv: kv[1]))
    line = (f"basis='auto' picked {best!r} (validation {'loss' if loss_fn else 'RMSE'} after {steps} steps on "
            f"{n - n_val} rows, scored on {n_val} held-out rows: {table}; {sum(seconds.values()):.1f} s)")
    if verbose:
        print(line)
    else:
        warnings.warn(line, UserWarning, stacklevel=2)
    return best


def _rebuilt(model: KANNetwork, basis: str) -> KANNetwork:
    """A new network of ``model``'s configuration with ``basis`` (fresh initialisation)."""
    config = dict(model.config, basis=basis)
    if config.get("base_fun") == "custom":
        config["base_fun"] = model.layers[0].base_fun
    return KANNetwork(**config, device=model.device, dtype=model.dtype)
