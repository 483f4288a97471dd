"""The main job: fit the mission's f(x, y) = sin(x) exp(-y^2) with grid extension, plot it, then
recover the formula with a multiplication node."""
from __future__ import annotations

import contextlib
import math
import os
from typing import Any, Dict, Iterator, Optional, Tuple

import torch

from .datasets import create_dataset
from .formula import spline_edges
from .model import KAN
from .train import fit_seeds

GRIDS = (3, 5, 10, 20)
PRODUCT_GRIDS = (5, 10, 20)
PRODUCT_LIB = ["x", "x^2", "sin", "gaussian"]
#: a start's formula is kept when its test RMSE is at most this (the labels are of order 1)
ACCEPT_RMSE = 1e-3


def target(x: torch.Tensor) -> torch.Tensor:
    """``(n, 2) -> (n, 1)``: sin(x) * exp(-y^2)."""
    return torch.sin(x[:, [0]]) * torch.exp(-x[:, [1]] ** 2)


@contextlib.contextmanager
def one_thread() -> Iterator[None]:
    """Run the block on one CPU thread, then restore the caller's count. LBFGS on these small
    networks follows the floating-point reduction order: with 2 threads the product fit of
    :func:`recover_product` ended at test RMSE 3.5e-4 and a cosine stand-in for exp(-y^2), with 1
    thread at 1.4e-5 and the exact formula. One thread makes the printed result the same on
    every machine (and these networks gain nothing from more)."""
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(old)


@one_thread()
def run_demo(out_dir: str = "demo_output", steps: int = 100, seed: int = 0) -> Dict[str, Any]:
    """Train ``KAN([2, 5, 1], grid=3, k=3)`` through grids 3, 5, 10, 20 with LBFGS, then recover
    the formula with :func:`recover_product`.

    Prints train/test RMSE per stage, writes ``loss_curve.png``, ``function_comparison.png`` and
    the KAN diagram ``kan_diagram.png`` into ``out_dir`` and returns the concatenated fit history
    (``train_loss``, ``test_loss``, ``stage_end``) plus ``formula``, the recovered formula's text.
    Runs on one CPU thread (:func:`one_thread`).
    """
    import matplotlib.pyplot as plt  # the caller's backend (off-screen Agg with no display)

    os.makedirs(out_dir, exist_ok=True)
    dataset = create_dataset(target, n_var=2, ranges=[(-math.pi, math.pi), (-1.0, 1.0)],
                             train_num=1000, test_num=1000, seed=seed)
    model = KAN([2, 5, 1], grid=GRIDS[0], k=3, seed=seed)
    history: Dict[str, Any] = {"train_loss": [], "test_loss": [], "stage_end": []}
    print(f"kanlab demo: f(x, y) = sin(x) exp(-y^2), KAN {model.width}, {steps} LBFGS steps per grid")
    print(f"{'grid':>5} {'train RMSE':>12} {'test RMSE':>12} {'time (s)':>9}")

    def report(row: Dict[str, Any]) -> None:
        history["train_loss"] += row["history"]["train_loss"]
        history["test_loss"] += row["history"]["test_loss"]
        history["stage_end"].append(len(history["train_loss"]))
        print(f"{row['grid']:>5} {row['train_loss']:>12.3e} {row['test_loss']:>12.3e} {row['seconds']:>9.1f}")

    model.fit_grid_schedule(dataset, GRIDS, steps=steps, stop_on_rise=None, on_grid=report, opt="LBFGS", progress=False)

    fig, ax = plt.subplots(figsize=(7, 4))
    ax.semilogy(history["train_loss"], label="train RMSE")
    ax.semilogy(history["test_loss"], label="test RMSE", linestyle="--")
    for end, grid in zip([0] + history["stage_end"][:-1], GRIDS):
        ax.axvline(end, color="grey", linewidth=0.6)
        ax.text(end + 2, ax.get_ylim()[1], f"G={grid}", va="top", fontsize=8)
    ax.set_xlabel("LBFGS step")
    ax.set_ylabel("RMSE")
    ax.set_title("KAN [2, 5, 1] on sin(x) exp(-y²): grid extension 3 → 5 → 10 → 20")
    ax.legend()
    ax.grid(True, alpha=0.3)
    fig.tight_layout()
    loss_png = os.path.join(out_dir, "loss_curve.png")
    fig.savefig(loss_png, dpi=120)
    plt.close(fig)

    n = 100
    xs = torch.linspace(-math.pi, math.pi, n)
    ys = torch.linspace(-1.0, 1.0, n)
    gx, gy = torch.meshgrid(xs, ys, indexing="ij")
    pts = torch.stack([gx.flatten(), gy.flatten()], dim=1)
    with torch.no_grad():
        true = target(pts).reshape(n, n)
        pred = model(pts).reshape(n, n)
    err = (true - pred).abs()
    fig, axes = plt.subplots(1, 3, figsize=(16, 4.5))
    panels = [(true, "True: sin(x) exp(-y²)", "viridis"), (pred, "KAN learned", "viridis"),
              (err, f"|error| (max {err.max():.1e})", "Reds")]
    for ax, (z, title, cmap) in zip(axes, panels):
        im = ax.contourf(gx.numpy(), gy.numpy(), z.numpy(), levels=20, cmap=cmap)
        ax.set_title(title)
        ax.set_xlabel("x")
        ax.set_ylabel("y")
        fig.colorbar(im, ax=ax)
    fig.tight_layout()
    cmp_png = os.path.join(out_dir, "function_comparison.png")
    fig.savefig(cmp_png, dpi=120)
    plt.close(fig)
    fig = model.plot(beta=10, in_vars=["x", "y"], out_vars=["f(x, y)"], title=f"KAN {model.width} on sin(x) exp(-y²)")
    diagram_png = os.path.join(out_dir, "kan_diagram.png")
    fig.savefig(diagram_png, dpi=120, bbox_inches="tight")
    plt.close(fig)
    print(f"wrote {loss_png}, {cmp_png} and {diagram_png}")
    history["formula"] = recover_product(dataset, out_dir, steps, seed)
    return history


def recover_product(dataset: Dict[str, torch.Tensor], out_dir: str, steps: int, seed: int) -> str:
    """Recover sin(x) exp(-y^2) as a formula: ``KAN([2, [0, 1], 1])`` (one multiplication node,
    identity base) from three seeds (each first ``fit`` with its own trial starts: without them
    none of seeds 0-2 found the product), grids 5 -> 10 -> 20, ``auto_symbolic``, a short refit.

    The starts are taken in order of their training loss at grid 5; the first whose formula's
    test RMSE is at most :data:`ACCEPT_RMSE` is kept, else the one with the lowest. (Which start
    recovers the formula depends on LBFGS's path at rounding level, so one start alone makes a
    fragile demo.) Prints the formula, writes ``kan_product_symbolic.png`` and returns the
    formula's text ("" when every start kept a spline edge)."""
    import matplotlib.pyplot as plt

    seeds = [seed, seed + 1, seed + 2]
    print(f"\nthe product, recovered: KAN([2, [0, 1], 1], base_fun='identity'), starts {seeds}")
    runs = fit_seeds(lambda s: KAN([2, [0, 1], 1], grid=PRODUCT_GRIDS[0], k=3, seed=s, base_fun="identity"),
                     dataset, seeds, opt="LBFGS", steps=steps, lamb=1e-3, progress=False)
    best: Optional[Tuple[float, KAN, str]] = None
    for _, model, _, start in runs:
        formula, rmse = symbolic_fit(model, dataset, steps)
        if best is None or rmse < best[0]:
            best = (rmse, model, formula)
        if rmse <= ACCEPT_RMSE:
            break
        print(f"start {start}: " + (f"the formula's test RMSE {rmse:.1e} exceeds {ACCEPT_RMSE:g}"
                                    if math.isfinite(rmse) else "no closed form")
              + ("; trying the next start" if start != runs[-1][3] else "; keeping the best start"))
    rmse, model, formula = best
    title = f"f(x, y) = {formula}" if formula else "no closed form: some edges stay splines"
    fig = model.plot(beta=10, in_vars=["x", "y"], out_vars=["f(x, y)"], title=title)
    png = os.path.join(out_dir, "kan_product_symbolic.png")
    fig.savefig(png, dpi=120, bbox_inches="tight")
    plt.close(fig)
    print(f"wrote {png}")
    return formula


def symbolic_fit(model: KAN, dataset: Dict[str, torch.Tensor], steps: int) -> Tuple[str, float]:
    """Grids 10 -> 20, ``auto_symbolic`` over :data:`PRODUCT_LIB`, a refit of the constants;
    prints and returns the formula and its test RMSE (``("", inf)`` and a note when an edge
    stays a spline)."""
    model.fit_grid_schedule(dataset, PRODUCT_GRIDS[1:], steps=steps, stop_on_rise=None, opt="LBFGS", progress=False,
                            on_grid=lambda row: print(f"grid {row['grid']:>3}: test RMSE {row['test_loss']:.3e}"))
    model.auto_symbolic(lib=PRODUCT_LIB, verbose=False)
    res = model.fit(dataset, opt="LBFGS", steps=max(1, steps // 2), update_grid=False, progress=False)
    kept = spline_edges(model)
    print(f"symbolic model: test RMSE {res['test_loss'][-1]:.3e}")
    if kept:  # auto_symbolic kept poorly fitted edges as splines: no closed form to show
        print(f"no formula: auto_symbolic kept {kept} (l, i, j) as splines (its warning gives their R^2)")
        return "", math.inf
    result = model.symbolic_formula(var=["x", "y"], zero_below=1e-3)
    (formula,), formula_fn = result.formulas, result.to_python()
    x_test = dataset["test_input"].detach().cpu().double().numpy()
    y_test = dataset["test_label"].detach().cpu().double().numpy()
    rmse = float(((formula_fn(x_test) - y_test) ** 2).mean() ** 0.5)
    print(f"f(x, y) = {formula}   (constants below 1e-3 dropped; the formula's test RMSE {rmse:.3e})")
    return str(formula), rmse
