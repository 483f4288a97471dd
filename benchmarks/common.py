"""Shared pieces of the benchmark scripts: markdown sections, parameter-matched MLPs, a plain
training loop with a step or wall-time budget, and run metadata.

Benchmarks are scripts, not library code: they print tables and rewrite their own section of
``BENCHMARKS.md`` or ``CLAIMS.md`` (``write_section``), leaving the other sections alone.
"""
from __future__ import annotations

import math
import os
import platform
import re
import sys
import time
from pathlib import Path
from typing import Callable, Dict, Optional

import torch
from torch import nn

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from kanlab.compare import mlp, mlp_params, mlp_width_for_params as mlp_widths_for_params  # noqa: E402
from kanlab.optim import LBFGS  # noqa: E402

__all__ = ["CLAIMS", "CLAIMS_HEADER", "write_section", "machine", "mlp", "mlp_params", "mlp_widths_for_params", "train_torch"]

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
CLAIMS = os.path.join(ROOT, "CLAIMS.md")
CLAIMS_HEADER = "# Claims, measured\n"  # a new CLAIMS.md starts with this


def write_section(path: str, title: str, section: str,
                  header: str = "# kanlab benchmarks\n\nEvery number here comes from the command shown with it.\n\n") -> None:
    """Replace (or append) the section headed ``title`` (a ``## ...`` line) of a markdown file
    (created with ``header`` if missing)."""
    text = Path(path).read_text() if os.path.exists(path) else header
    pattern = re.compile(re.escape(title) + r"\n.*?(?=\n## |\Z)", re.S)
    # the match stops before the newline that precedes the next "## ": keep one blank line there
    text = pattern.sub(lambda _: section.rstrip("\n") + "\n", text) if pattern.search(text) else text.rstrip("\n") + "\n\n" + section
    with open(path, "w") as fh:
        fh.write(text if text.endswith("\n") else text + "\n")


def machine() -> str:
    """One line naming the machine, torch version and thread count (for the tables' captions)."""
    return f"{platform.processor() or platform.machine()}, torch {torch.__version__}, {torch.get_num_threads()} thread(s)"


def train_torch(
    model: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    opt: str = "Adam",
    steps: int = 1000,
    lr: float = 1e-3,
    batch: int = -1,
    time_budget_s: Optional[float] = None,
    weight_decay: float = 0.0,
    seed: int = 0,
) -> Dict[str, float]:
    """Train any module on ``(x, y)`` for ``steps`` optimiser steps or until ``time_budget_s``.

    ``opt``: "Adam", "AdamW" or "LBFGS" (kanlab's, strong Wolfe, full batch, with the tolerances
    ``fit`` gives KANs: torch's fixed thresholds stall near 1e-4 RMSE, which would handicap the MLP). ``batch=-1`` is full batch;
    otherwise mini-batches are drawn with a generator seeded by ``seed``. Returns
    ``{"steps", "seconds", "train_loss"}`` (the last step's loss).
    """
    params = [p for p in model.parameters() if p.requires_grad]
    if opt == "LBFGS":
        optimizer: torch.optim.Optimizer = LBFGS(params, lr=lr, history_size=10, line_search_fn="strong_wolfe",
                                                 tolerance_grad=1e-32, tolerance_change=1e-32, tolerance_ys=1e-32)
    elif opt in ("Adam", "AdamW"):
        optimizer = getattr(torch.optim, opt)(params, lr=lr, weight_decay=weight_decay)
    else:
        raise ValueError(f"opt must be 'Adam', 'AdamW' or 'LBFGS', got {opt!r}")
    gen = torch.Generator(device="cpu").manual_seed(seed)
    n = x.shape[0]
    start, done, loss_value = time.perf_counter(), 0, math.nan
    while done < steps:
        if time_budget_s is not None and time.perf_counter() - start > time_budget_s:
            break
        if batch == -1 or opt == "LBFGS":
            xb, yb = x, y
        else:
            idx = torch.randint(n, (batch,), generator=gen).to(x.device)
            xb, yb = x[idx], y[idx]

        def closure() -> torch.Tensor:
            optimizer.zero_grad()
            loss = loss_fn(model(xb), yb)
            loss.backward()
            return loss

        loss_value = float(optimizer.step(closure).detach())
        done += 1
        if not math.isfinite(loss_value):
            break
    return {"steps": done, "seconds": time.perf_counter() - start, "train_loss": loss_value}
