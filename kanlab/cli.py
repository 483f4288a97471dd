"""Command-line interface: ``kanlab demo`` (also ``python -m kanlab demo``)."""
from __future__ import annotations

import argparse
from typing import Optional, Sequence


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="kanlab", description="Kolmogorov-Arnold Networks")
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser("demo", help="fit f(x, y) = sin(x) exp(-y^2) and write its plots")
    demo.add_argument("--out", default="demo_output", help="folder for the PNGs (default: demo_output)")
    demo.add_argument("--steps", type=int, default=100, help="LBFGS steps per grid (default: 100)")
    demo.add_argument("--seed", type=int, default=0, help="data and initialisation seed (default: 0)")
    args = parser.parse_args(argv)
    if args.command == "demo":
        if args.steps < 1:
            parser.error(f"--steps must be at least 1, got {args.steps}")
        from .demo import run_demo

        run_demo(args.out, steps=args.steps, seed=args.seed)
    return 0
