"""The trust audit (issue 11): each silent-wrong-result case, measured on the current code.

Prints one row per case with the measured figure and the bound it must meet. Run with
``python -m benchmarks.trust_audit`` (about 30 s on one core); the figures before the fixes are
in BENCHMARKS.md next to this table.
"""
from __future__ import annotations

import argparse
import math
import os
import tempfile
from typing import Callable, List, Tuple

import torch

from kanlab import KAN, KANLayer, create_dataset, splines

Row = Tuple[str, float, str]


def idempotent_update(sample: Callable[[int], torch.Tensor], grid: int) -> float:
    """Relative change of the spline values when the grid is updated twice on the same samples."""
    torch.manual_seed(0)
    layer = KANLayer(2, 3, grid, 3, dtype=torch.float64)
    with torch.no_grad():
        layer.coef.normal_()
    x = sample(10000)
    layer.update_grid_from_samples(x)
    first = layer.spline_values(x)
    layer.update_grid_from_samples(x)
    return ((layer.spline_values(x) - first).abs().max() / first.abs().max()).item()


def representable_refit() -> float:
    """An exactly representable spline on a lognormal(3)-adapted grid, G = 200, refitted."""
    x = torch.exp(3 * torch.randn(20000, 1, generator=torch.Generator().manual_seed(0), dtype=torch.float64))
    layer = KANLayer(1, 1, 200, 3, dtype=torch.float64)
    layer.update_grid_from_samples(x)
    with torch.no_grad():
        layer.coef.normal_(generator=torch.Generator().manual_seed(1))
    before = layer.spline_values(x)
    layer.set_grid(layer.grid.clone(), x)
    return ((layer.spline_values(x) - before).abs().max() / before.abs().max()).item()


def extra_update_after_fit() -> Tuple[float, float]:
    """Train RMSE after ``fit`` on Cauchy inputs, and after one more grid update on the same data."""
    ds = create_dataset(lambda x: torch.sin(x[:, :1]) * torch.exp(-x[:, 1:] ** 2), n_var=2, train_num=1000, seed=0)
    torch.manual_seed(0)
    for split in ("train", "test"):
        x = torch.distributions.Cauchy(0.0, 1.0).sample((1000, 2))
        ds[f"{split}_input"] = x
        ds[f"{split}_label"] = torch.sin(x[:, :1]) * torch.exp(-x[:, 1:] ** 2)
    model = KAN([2, 5, 1], grid=5, seed=0)
    model.fit(ds, opt="LBFGS", steps=20, progress=False)
    rmse = lambda: (model(ds["train_input"]) - ds["train_label"]).square().mean().sqrt().item()  # noqa: E731
    before = rmse()
    model.update_grid_from_samples(ds["train_input"])
    return before, rmse()


def fast_vs_reference(layer: KANLayer, x: torch.Tensor) -> float:
    """Largest |fast basis - exact basis of the same knots| in ulps of the layer's dtype."""
    exact = splines.bspline_basis(x.double(), layer.knots.double(), layer.spline_order)
    return ((layer.basis(x).double() - exact).abs().max() / torch.finfo(layer.knots.dtype).eps).item()


def near_knots(grid: int, k: int) -> float:
    layer = KANLayer(1, 1, grid, k)
    kn = layer.knots[0]
    x = torch.cat([kn, torch.nextafter(kn, kn - 1), torch.nextafter(kn, kn + 1)])
    return fast_vs_reference(layer, x[(x > kn[0]) & (x < kn[-1])].unsqueeze(1))


def unresolvable_grid() -> float:
    layer = KANLayer(1, 1, 5, 3)
    layer.update_grid_from_samples(torch.tensor([[1.0], [1.0000001]] * 50))
    kn = layer.knots[0]
    x = torch.cat([kn, torch.nextafter(kn, kn - 1), torch.nextafter(kn, kn + 1), torch.linspace(0.9999, 1.0002, 1001)])
    return fast_vs_reference(layer, x.unsqueeze(1))


def overflow(dtype: torch.dtype, value: float) -> float:
    """|fast - reference| of a layer output at a huge finite input (NaN counts as inf)."""
    layer = KANLayer(2, 2, 5, 3, dtype=dtype)
    x = torch.tensor([[value, 0.5]], dtype=dtype)
    fast = layer(x).double()
    layer.fast = False
    diff = (fast - layer(x).double()).abs().max().item()
    return math.inf if math.isnan(diff) else diff


def nan_masked() -> float:
    """1 if a NaN input to a bare layer on an adapted grid comes out finite (masked), else 0."""
    layer = KANLayer(2, 2, 5, 3, base_fun="zero")
    layer.update_grid_from_samples(torch.randn(200, 2) ** 3)
    return float(bool(torch.isfinite(layer(torch.tensor([[math.nan, 0.5]]))).any()))


def symbolic_state_dict() -> float:
    """Output difference after a state dict with a fixed symbolic edge loads into a fresh KAN."""
    model = KAN([2, 3, 1], seed=0)
    x = torch.rand(200, 2) * 2 - 1
    model.fit({"train_input": x, "train_label": torch.sin(3 * x[:, :1]), "test_input": x,
               "test_label": torch.sin(3 * x[:, :1])}, opt="Adam", steps=20, progress=False)
    model.fix_symbolic(0, 0, 0, "sin", verbose=False)
    fresh = KAN([2, 3, 1], seed=1)
    fresh.load_state_dict(model.state_dict())
    return (fresh(x) - model(x)).abs().max().item()


def pruned_input_id() -> str:
    model = KAN([3, 2, 1], seed=0)
    model.remove_node(0, 1)
    small = model.prune_input(active_inputs=[0, 2])
    with tempfile.TemporaryDirectory() as folder:
        small.saveckpt(os.path.join(folder, "m.ckpt"))
        loaded = KAN.loadckpt(os.path.join(folder, "m.ckpt"))
    return f"{small.input_id} -> {loaded.input_id}"


def main() -> None:
    torch.set_num_threads(1)
    cauchy = lambda n: torch.distributions.Cauchy(0.0, 1.0).sample((n, 2)).double()  # noqa: E731
    before_fit, after_fit = extra_update_after_fit()
    rows: List[Row] = [
        ("1. second grid update, Cauchy, n=10000, G=5 (relative change)", idempotent_update(cauchy, 5), "<= 1e-9"),
        ("1. train RMSE after fit on Cauchy inputs -> after one more update", after_fit / before_fit,
         f"ratio ~1 ({before_fit:.3e} -> {after_fit:.3e})"),
        ("2. representable spline, lognormal(3) grid, G=200 (relative)", representable_refit(), "<= 1e-9"),
        ("3. float32 column {1.0, 1.0000001}: fast vs reference (ulps)", unresolvable_grid(), "<= 16"),
        ("4. float32 beside knots, G=200, k=1 (ulps)", near_knots(200, 1), "<= 16"),
        ("4. float32 beside knots, G=1000, k=1 (ulps)", near_knots(1000, 1), "<= 16"),
        ("5. float16 input 30000: fast vs reference", overflow(torch.float16, 3e4), "0 (was NaN)"),
        ("5. bfloat16 input 2e38: fast vs reference", overflow(torch.bfloat16, 2e38), "0 (was NaN)"),
        ("5. float32 input -2e38: fast vs reference", overflow(torch.float32, -2e38), "~0 (was NaN)"),
        ("5. NaN into an adapted-grid layer comes out finite (1 = yes)", nan_masked(), "0"),
        ("6. state dict with a symbolic edge, fresh KAN (max |diff|)", symbolic_state_dict(), "0"),
    ]
    print("| case | measured | bound |\n|---|---|---|")
    for name, value, bound in rows:
        print(f"| {name} | {value:.3g} | {bound} |")
    print(f"| 7. pruned input_id through saveckpt/loadckpt | {pruned_input_id()} | kept |")


if __name__ == "__main__":
    argparse.ArgumentParser(description=__doc__.splitlines()[0]).parse_args()  # --help only
    main()
