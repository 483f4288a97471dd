"""A small convolutional KAN against a CNN of the same size, on MNIST and Fashion-MNIST.

Run:  python examples/conv_mnist.py                 # 120 CPU s of training per model and dataset
      python examples/conv_mnist.py --quick         # 8 CPU s per model, 2,000 test images (~50 s in all)
      python examples/conv_mnist.py --budget 300 --data /path/to/data

Both networks have two 3x3 convolutions (each followed by batch norm and 2x2 max pooling) and a
linear classifier; the KAN's convolutions are ``kanlab.nn.KANConv2d`` (every kernel entry a learnable
B-spline edge plus a SiLU base), the CNN's are ``torch.nn.Conv2d`` + ReLU, with its channel count
chosen so both have the same number of parameters (to within a few percent). Each model trains with
AdamW on the same shuffled batches for the same CPU-time budget on one thread, then is tested on
the test set. The images come from ``kanlab.load_mnist`` (the folder given by --data, the
KANLAB_DATA environment variable, or ../shared/data; nothing is downloaded).
"""
from __future__ import annotations

import argparse
import sys
import time
from typing import Callable, Dict, List, Tuple

import torch
from torch import nn

from kanlab import load_mnist
from kanlab.nn import KANConv2d

Split = Tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]


def kan_net(channels: Tuple[int, int] = (8, 16), grid_size: int = 5) -> nn.Module:
    """``(N, 1, 28, 28) -> (N, 10)``: KANConv2d(1, c1, 3) -> BN -> pool -> KANConv2d(c1, c2, 3) -> BN ->
    pool -> Linear. The first layer's grid spans the normalised pixels [-1, 1], the second's the
    batch-normalised features, mostly within [-2, 2]."""
    c1, c2 = channels
    return nn.Sequential(
        KANConv2d(1, c1, 3, grid_size=grid_size), nn.BatchNorm2d(c1), nn.MaxPool2d(2),          # 26 -> 13
        KANConv2d(c1, c2, 3, grid_size=grid_size, grid_range=(-2, 2)), nn.BatchNorm2d(c2), nn.MaxPool2d(2),  # 11 -> 5
        nn.Flatten(), nn.Linear(c2 * 5 * 5, 10),
    )


def cnn(width: int) -> nn.Module:
    """``(N, 1, 28, 28) -> (N, 10)``: the same layout with Conv2d + ReLU, channels (width, 2 width)."""
    return nn.Sequential(
        nn.Conv2d(1, width, 3), nn.BatchNorm2d(width), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(width, 2 * width, 3), nn.BatchNorm2d(2 * width), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(2 * width * 5 * 5, 10),
    )


def n_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def matched_cnn(target: int) -> nn.Module:
    """The CNN whose parameter count is closest to ``target``."""
    width = min(range(1, 256), key=lambda w: abs(n_params(cnn(w)) - target))
    return cnn(width)


def train(model: nn.Module, x: torch.Tensor, y: torch.Tensor, budget: float, batch: int, lr: float,
          seed: int) -> Tuple[float, int]:
    """AdamW on seeded shuffled mini-batches of ``x`` ``(n, 1, 28, 28)`` until ``budget`` CPU seconds
    of training have passed (the process's CPU time, so other work on a shared machine does not eat
    into a model's budget). Returns (CPU seconds, steps)."""
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=1e-4)
    loss_fn = nn.CrossEntropyLoss()
    gen = torch.Generator().manual_seed(seed)
    model.train()
    steps, start = 0, time.process_time()
    while True:
        for idx in torch.randperm(len(x), generator=gen).split(batch):
            opt.zero_grad()
            loss_fn(model(x[idx]), y[idx]).backward()
            opt.step()
            steps += 1
            if time.process_time() - start >= budget:
                return time.process_time() - start, steps


@torch.no_grad()
def accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor, batch: int = 500) -> float:
    model.eval()
    correct = sum(int((model(xb).argmax(1) == yb).sum()) for xb, yb in zip(x.split(batch), y.split(batch)))
    return correct / len(x)


def load(name: str, data: str | None, n_test: int | None) -> Split:
    """Images normalised to [-1, 1] as ``(n, 1, 28, 28)``, labels ``(n,)``."""
    train_x, train_y, test_x, test_y = load_mnist(data, name=name)
    if n_test is not None:
        test_x, test_y = test_x[:n_test], test_y[:n_test]
    norm = lambda t: ((t - 0.5) / 0.5).unsqueeze(1)  # noqa: E731
    return norm(train_x), train_y, norm(test_x), test_y


def main(argv: List[str] | None = None) -> List[Dict[str, object]]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="8 CPU s per model, 2,000 test images")
    parser.add_argument("--budget", type=float, default=None, help="training CPU seconds per model (default 120; 8 with --quick)")
    parser.add_argument("--datasets", nargs="+", default=["mnist", "fashion-mnist"], choices=["mnist", "fashion-mnist"])
    parser.add_argument("--data", default=None, help="data folder holding mnist/ and fashion-mnist/")
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1: a fair, repeatable budget)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    budget = args.budget if args.budget is not None else (8.0 if args.quick else 120.0)
    torch.set_num_threads(args.threads)

    builders: List[Tuple[str, Callable[[], nn.Module]]] = [("conv KAN", kan_net)]
    builders.append(("CNN", lambda: matched_cnn(n_params(kan_net()))))
    rows: List[Dict[str, object]] = []
    for name in args.datasets:
        try:
            train_x, train_y, test_x, test_y = load(name, args.data, 2000 if args.quick else None)
        except FileNotFoundError as exc:
            sys.exit(f"{name} not found: {exc}")
        for label, build in builders:
            torch.manual_seed(args.seed)
            model = build()
            seconds, steps = train(model, train_x, train_y, budget, args.batch, args.lr, args.seed)
            rows.append(dict(dataset=name, model=label, params=n_params(model), seconds=seconds, steps=steps,
                             epochs=steps * args.batch / len(train_x), accuracy=accuracy(model, test_x, test_y)))
            r = rows[-1]
            print(f"{name:14s} {label:9s} params {r['params']:6d}  {seconds:6.1f} s  {steps:5d} steps  "
                  f"test accuracy {r['accuracy']:.4f}", flush=True)

    print(f"\n{len(test_x)} test images per dataset; {budget:g} CPU s of training per model, {args.threads} thread(s), "
          f"batch {args.batch}, AdamW lr {args.lr:g}\n")
    print("| dataset | model | params | train CPU time (s) | steps (epochs) | test accuracy |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['dataset']} | {r['model']} | {r['params']:,} | {r['seconds']:.1f} | {r['steps']} "
              f"({r['epochs']:.2f}) | {100 * r['accuracy']:.2f}% |")
    return rows


if __name__ == "__main__":
    main()
