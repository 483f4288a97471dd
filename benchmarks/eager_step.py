"""Eager (uncompiled) training-step time of a few KAN configs, one thread, median of 20.

``python -m benchmarks.eager_step``: a quick check of the default path's per-step cost, for
comparing two commits on the same machine (absolute times are noise on shared machines; run
both commits back to back). "adapted" configs first move the grids to normal samples.
"""
from __future__ import annotations

import argparse

import torch

from kanlab import KAN

from .workflow import median_seconds

CONFIGS = [([784, 64, 10], 5, False), ([784, 64, 10], 5, True), ([2, 5, 1], 5, False), ([2, 5, 1], 5, True),
           ([64, 64, 64], 50, False), ([64, 64, 64], 200, False)]


def step_ms(width: list, grid: int, adapted: bool, batch: int = 256, reps: int = 20) -> float:
    """Median milliseconds of one Adam step (forward, backward, update) at ``batch`` rows."""
    torch.manual_seed(0)
    model = KAN(width, grid=grid, seed=0)
    x = torch.rand(batch, width[0]) * 2 - 1
    if adapted:
        model.update_grid_from_samples(torch.randn(2000, width[0]) * 0.5)
    opt = torch.optim.Adam(model.parameters(), 1e-3)

    def step() -> None:
        opt.zero_grad()
        model(x).square().mean().backward()
        opt.step()

    return median_seconds(step, reps) * 1e3


if __name__ == "__main__":
    argparse.ArgumentParser(description=__doc__.splitlines()[0]).parse_args()  # --help only
    torch.set_num_threads(1)
    print("| width | grid | grids | ms per step |\n|---|---|---|---|")
    for width, grid, adapted in CONFIGS:
        print(f"| {width} | {grid} | {'adapted' if adapted else 'uniform'} | {step_ms(width, grid, adapted):.2f} |")
