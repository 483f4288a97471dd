"""Continual learning: the KAN paper's toy (Sec. 3.5, Fig. 3.4).

The target is five Gaussian peaks ``exp(-300 (x - c)^2)`` on [-1, 1]. Training data arrive in five
phases, phase ``i`` showing only the samples of segment ``i`` (around peak ``i``). A KAN [1, 1] on a
fine grid (200 intervals, no base function, fixed scales: pykan's recipe) changes only the spline
coefficients whose support touches the current segment, so earlier peaks stay; an MLP trained the
same way forgets them. The script trains both phase by phase, prints the error on the earlier
segments after each phase and draws the predictions (``--out``).

    python examples/continual_learning.py [--quick] [--out continual_learning.png]
"""
from __future__ import annotations

import argparse
import time

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402
from torch import nn  # noqa: E402

from kanlab import KAN  # noqa: E402

CENTERS = [-0.8, -0.4, 0.0, 0.4, 0.8]
EDGES = torch.linspace(-1, 1, len(CENTERS) + 1)


def target(x: torch.Tensor) -> torch.Tensor:
    """Sum of the five peaks, ``(n, 1) -> (n, 1)``."""
    return sum(torch.exp(-300 * (x - c) ** 2) for c in CENTERS)


def segment(i: int, n: int) -> torch.Tensor:
    """``n`` evenly spaced points of segment ``i``, ``(n, 1)``."""
    return torch.linspace(float(EDGES[i]), float(EDGES[i + 1]), n).unsqueeze(1)


def rmse_on(model: nn.Module, segments: range, n: int = 200) -> float:
    if len(segments) == 0:
        return float("nan")
    x = torch.cat([segment(i, n) for i in segments])
    with torch.no_grad():
        return float(torch.sqrt(torch.mean((model(x) - target(x)) ** 2)))


def train_mlp_phase(mlp: nn.Module, x: torch.Tensor, y: torch.Tensor, steps: int) -> None:
    """Adam then a few LBFGS steps on this phase's data only (what a KAN phase gets, roughly)."""
    opt = torch.optim.Adam(mlp.parameters(), lr=1e-3)
    for _ in range(steps * 10):
        opt.zero_grad()
        loss = torch.mean((mlp(x) - y) ** 2)
        loss.backward()
        opt.step()
    lbfgs = torch.optim.LBFGS(mlp.parameters(), lr=1.0, history_size=10, line_search_fn="strong_wolfe")

    def closure() -> torch.Tensor:
        lbfgs.zero_grad()
        loss = torch.mean((mlp(x) - y) ** 2)
        loss.backward()
        return loss

    for _ in range(steps // 5):
        lbfgs.step(closure)


def main() -> None:
    parser = argparse.ArgumentParser(description="KAN vs MLP on the five-peak continual-learning toy")
    parser.add_argument("--quick", action="store_true",
                        help="10 steps per phase instead of 100 (a smoke run; the MLP then under-fits each phase)")
    parser.add_argument("--out", default="continual_learning.png", help="where to write the figure")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    steps = 10 if args.quick else 100
    torch.manual_seed(args.seed)

    kan = KAN(width=[1, 1], grid=200, k=3, seed=args.seed, noise_scale=0.1, base_fun="zero",
              sp_trainable=False, sb_trainable=False)
    mlp = nn.Sequential(nn.Linear(1, 64), nn.Tanh(), nn.Linear(64, 64), nn.Tanh(), nn.Linear(64, 1))
    x_plot = torch.linspace(-1, 1, 1000).unsqueeze(1)
    fig, axes = plt.subplots(2, len(CENTERS), figsize=(3.2 * len(CENTERS), 5.2), sharex=True, sharey=True)
    print(f"{'phase':>5} | {'KAN earlier':>12} {'KAN current':>12} | {'MLP earlier':>12} {'MLP current':>12}")
    start = time.perf_counter()
    for phase in range(len(CENTERS)):
        x = segment(phase, 100)
        y = target(x)
        kan.fit({"train_input": x, "train_label": y}, opt="LBFGS", steps=steps, update_grid=False, progress=False)
        train_mlp_phase(mlp, x, y, steps)
        earlier = range(phase)
        print(f"{phase + 1:>5} | {rmse_on(kan, earlier):>12.2e} {rmse_on(kan, range(phase, phase + 1)):>12.2e} | "
              f"{rmse_on(mlp, earlier):>12.2e} {rmse_on(mlp, range(phase, phase + 1)):>12.2e}")
        with torch.no_grad():
            for row, (name, model) in enumerate((("KAN [1,1], G=200", kan), ("MLP [1,64,64,1]", mlp))):
                ax = axes[row, phase]
                ax.plot(x_plot[:, 0], target(x_plot)[:, 0], color="0.75", lw=1, ls="--", label="target")
                ax.scatter(x[:, 0], y[:, 0], s=4, color="tab:orange", label="this phase's data")
                ax.plot(x_plot[:, 0], model(x_plot)[:, 0], color="tab:blue", lw=1.2, label="prediction")
                ax.set_title(f"{name}\nafter phase {phase + 1}", fontsize=9)
                ax.set_ylim(-0.4, 1.3)
    axes[0, 0].legend(fontsize=7, loc="upper right")
    fig.tight_layout()
    fig.savefig(args.out, dpi=110)
    print(f"({time.perf_counter() - start:.1f} s) figure written to {args.out}")
    print("RMSE on the earlier segments: the KAN keeps the peaks it has seen; the MLP overwrites them.")


if __name__ == "__main__":
    main()
