"""Command-line interface: ``kanlab demo``, ``kanlab compare`` and ``kanlab --version`` (also
``python -m kanlab ...``)."""
from __future__ import annotations

import argparse
import os
import sys
from typing import List, Optional, Sequence


def _hidden(text: str) -> List[int]:
    try:
        widths = [int(w) for w in text.split(",") if w.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"--hidden takes comma-separated positive ints such as 8 or 16,8, got {text!r}")
    if not widths or min(widths) < 1:
        raise argparse.ArgumentTypeError(f"--hidden takes comma-separated positive ints such as 8 or 16,8, got {text!r}")
    return widths


def _add_compare(sub: "argparse._SubParsersAction") -> None:
    cmp = sub.add_parser(
        "compare", help="train a KAN and a parameter-matched MLP on a CSV or built-in dataset, same budget",
        description="Train a KAN and an MLP with about the same number of parameters under the same budget "
                    "(optimiser, learning rate, batches, steps or seconds); print a table and write a plot of "
                    "their learning curves. Non-numeric CSV feature columns are one-hot encoded.")
    cmp.add_argument("data", help="path of a CSV file with a header row, or a built-in dataset name "
                                  "(poker, adult, magic, breast_cancer, digits, mnist, fashion-mnist)")
    cmp.add_argument("--target", help="CSV target column (default: the last column)")
    cmp.add_argument("--task", choices=("auto", "regression", "classification"), default="auto",
                     help="auto: classification for a text target or an integer one with <= 20 values")
    cmp.add_argument("--steps", type=int, help="optimiser steps per model (default 500 unless --seconds)")
    cmp.add_argument("--seconds", type=float, help="training wall-time budget per model (seconds)")
    cmp.add_argument("--hidden", type=_hidden, default=[8], help="KAN hidden widths, e.g. 8 or 16,8 (default 8)")
    cmp.add_argument("--grid", type=int, default=5, help="KAN grid intervals (default 5)")
    cmp.add_argument("--k", type=int, default=3, help="KAN spline order (default 3)")
    cmp.add_argument("--mlp-depth", type=int, default=2, help="MLP hidden layers (default 2)")
    cmp.add_argument("--opt", choices=("Adam", "AdamW", "LBFGS"), default="Adam", help="optimiser for both (Adam)")
    cmp.add_argument("--lr", type=float, help="learning rate for both (default 0.01 for Adam, 1.0 for LBFGS)")
    cmp.add_argument("--batch-size", type=int, help="rows per Adam step (default: full batch up to 4096 training rows, else 512)")
    cmp.add_argument("--test-fraction", type=float, default=0.2, help="CSV rows held out for testing (0.2)")
    cmp.add_argument("--dropna", action="store_true", help="drop CSV rows with missing values instead of failing")
    cmp.add_argument("--data-folder", help="folder of the built-in datasets' files (default: KANLAB_DATA)")
    cmp.add_argument("--seed", type=int, default=0, help="split, initialisation and batch seed (default 0)")
    cmp.add_argument("--out", default="compare.png", help="plot file (default compare.png)")


def _run_compare(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    for name in ("steps", "grid", "k", "mlp_depth", "batch_size"):
        value = getattr(args, name)
        if value is not None and value < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1, got {value}")
    if args.seconds is not None and args.seconds <= 0:
        parser.error(f"--seconds must be positive, got {args.seconds}")
    from . import compare as cmp

    try:
        if os.path.exists(args.data) or args.data.lower().endswith(".csv"):
            data = cmp.read_csv_table(args.data, target=args.target, task=args.task,
                                      test_fraction=args.test_fraction, seed=args.seed, dropna=args.dropna)
        else:
            if args.target is not None or args.task != "auto":
                parser.error("--target and --task apply to CSV files only")
            data = cmp.load_builtin(args.data, folder=args.data_folder, seed=args.seed)
        runs = cmp.compare(data, hidden=args.hidden, grid=args.grid, k=args.k, mlp_depth=args.mlp_depth,
                           opt=args.opt, lr=args.lr, steps=args.steps, seconds=args.seconds,
                           batch_size=args.batch_size, seed=args.seed)
    except (OSError, ValueError, ImportError) as err:  # missing files, bad data, a missing optional extra
        print(f"kanlab compare: error: {err}", file=sys.stderr)
        return 2
    budget = cmp.describe_budget(data, args.opt, args.lr, args.steps, args.seconds, args.batch_size, args.seed)
    print(cmp.format_table(data, runs, budget))
    print(f"wrote {cmp.plot_comparison(data, runs, args.out)}")
    return 0


def main(argv: Optional[Sequence[str]] = None) -> int:
    from . import __version__

    parser = argparse.ArgumentParser(prog="kanlab", description="Kolmogorov-Arnold Networks")
    parser.add_argument("--version", action="version", version=f"kanlab {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser("demo", help="fit f(x, y) = sin(x) exp(-y^2) and write its plots")
    demo.add_argument("--out", default="demo_output", help="folder for the PNGs (default: demo_output)")
    demo.add_argument("--steps", type=int, default=100, help="LBFGS steps per grid (default: 100)")
    demo.add_argument("--seed", type=int, default=0, help="data and initialisation seed (default: 0)")
    _add_compare(sub)
    args = parser.parse_args(argv)
    if args.command == "compare":
        return _run_compare(args, parser)
    if args.command == "demo":
        if args.steps < 1:
            parser.error(f"--steps must be at least 1, got {args.steps}")
        from .demo import run_demo

        run_demo(args.out, steps=args.steps, seed=args.seed)
    return 0
