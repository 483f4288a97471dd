"""The compiled loops of the eager path, one thread, median of 50: the dense basis pass and a
layer's weight pass (forward and backward), each beside what it replaces.

``python -m benchmarks.native_loops``: the basis values (and values with slopes) of a
``[784, ...]`` first layer on 256 rows, on its uniform grid and on grids adapted to normal samples,
and of a ``[256, ...]`` layer on 1024 rows (configs a and c of ``benchmarks/speed.py``), against the same features from torch's operations
(``kanlab.native.disabled``); and the basis-major weight of ``[784, 64]`` and ``[256, 256]`` layers
with its gradients, against autograd's product, transpose and concatenation. For comparing two
commits, run both back to back (absolute times are noise on shared machines).
"""
from __future__ import annotations

import argparse
from typing import Callable, Tuple

import torch

from kanlab import KAN, kernels, native

from .workflow import median_seconds


def _pair(width: Tuple[int, int], batch: int, slopes: bool, adapted: bool = False) -> Callable[[], object]:
    model = KAN(list(width), grid=5, k=3, seed=0)
    if adapted:  # per-interval pieces, as after fit's grid updates
        model.update_grid_from_samples(torch.randn(2000, width[0], generator=torch.Generator().manual_seed(1)) * 0.5)
    plan = model.layers[0].edge_basis.plan
    x = torch.rand(batch, width[0], generator=torch.Generator().manual_seed(0)) * 2 - 1
    if slopes:
        return lambda: plan.dense_pair(x)
    return lambda: plan.dense_t(x)


def _weights(width: Tuple[int, int]) -> Callable[[], object]:
    layer = KAN(list(width), grid=5, k=3, seed=0).layers[0]
    coef, scale, base = layer.coef, layer.scale_spline * layer.mask, layer.scale_base * layer.mask
    grad = torch.randn(width[1], layer.n_basis + 1, width[0])

    def step() -> None:
        layer.zero_grad()
        kernels.basis_major_weight(coef, scale.detach().requires_grad_(), base.detach().requires_grad_()).backward(grad)

    return step


def _row(name: str, fn: Callable[[], object]) -> str:
    fast = median_seconds(fn, 50) * 1e3
    with native.disabled():
        plain = median_seconds(fn, 50) * 1e3
    return f"| {name} | {fast:.3f} | {plain:.3f} | {plain / fast:.1f}x |"


def main() -> None:
    argparse.ArgumentParser(description=__doc__.splitlines()[0]).parse_args()  # --help only
    torch.set_num_threads(1)
    print("| pass (float32) | compiled loop ms | torch operations ms | ratio |\n|---|---|---|---|")
    for width, batch in (((784, 64), 256), ((256, 256), 1024)):
        print(_row(f"basis values, {batch} x {width[0]}", _pair(width, batch, False)), flush=True)
        print(_row(f"basis values and slopes, {batch} x {width[0]}", _pair(width, batch, True)), flush=True)
        if width[0] == 784:
            for slopes in (False, True):
                name = f"basis values{' and slopes' if slopes else ''}, {batch} x {width[0]}, adapted grids"
                print(_row(name, _pair(width, batch, slopes, adapted=True)), flush=True)
    for width in ((784, 64), (256, 256)):
        print(_row(f"weight {width[1]} x {width[0]} x 9 and its gradients", _weights(width)), flush=True)


if __name__ == "__main__":
    main()
