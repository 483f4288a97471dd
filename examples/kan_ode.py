"""KAN-ODE: learn dx/dt = f(x) from noisy Lotka-Volterra trajectories, then recover f in closed form.

Run:  python examples/kan_ode.py            # 8 trajectories, longer fits (a few minutes on one core)
      python examples/kan_ode.py --quick    # 6 trajectories, short fits (under a minute on one core)

The true field is dx/dt = alpha x - beta x y, dy/dt = delta x y - gamma y (prey x, predators y;
alpha, beta, delta, gamma = 1.5, 1, 1, 3 by default). Trajectories from random initial states
are observed every 0.1 time units with Gaussian noise (1% of each variable's spread by default).

1. A KAN([2, [0, 2], 2], base_fun="identity") is fitted as the vector field by windowed shooting
   (kanlab.ode.fit_ode: RK4 from every observed state over the next 4 observations, LBFGS, grid
   updates on the observed states). Its two multiplication nodes can express x*y exactly.
2. kanlab.ode.recover_symbolic snaps every edge to a linear function (auto_symbolic, lib ["x"]),
   fine-tunes the constants on the trajectories, expands symbolic_formula's output, drops terms
   under 5% of the field on the data and refits the rest.

It prints the true and recovered equations side by side with the relative error of every
coefficient, and writes ``kan_ode_trajectories.png`` (true, KAN and recovered-formula trajectories
from the observed initial states) to ``--out``.
"""
from __future__ import annotations

import argparse
import os
import time
from typing import Dict, Tuple

import sympy as sp
import torch

from kanlab import KAN
from kanlab.ode import fit_ode, lotka_volterra, odeint_rk4, polynomial_terms, recover_symbolic, simulate, trajectory_error


def true_terms(alpha: float, beta: float, delta: float, gamma: float) -> Tuple[Dict[Tuple[int, int], float], ...]:
    """The Lotka-Volterra coefficients as ``{(power of x, power of y): coefficient}`` per equation."""
    return {(1, 0): alpha, (1, 1): -beta}, {(1, 1): delta, (0, 1): -gamma}


def as_expr(terms: Dict[Tuple[int, int], float], x: sp.Symbol, y: sp.Symbol, digits: int = 4) -> sp.Expr:
    return sum((sp.Float(c, digits) * x ** px * y ** py for (px, py), c in terms.items()), sp.Integer(0))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer trajectories and steps (under a minute)")
    parser.add_argument("--out", default=".", help="folder for kan_ode_trajectories.png (default: .)")
    parser.add_argument("--noise", type=float, default=0.01, help="noise std as a fraction of each variable's std")
    parser.add_argument("--seed", type=int, default=0, help="seed of initial states, noise and the KAN")
    parser.add_argument("--params", type=float, nargs=4, default=(1.5, 1.0, 1.0, 3.0),
                        metavar=("ALPHA", "BETA", "DELTA", "GAMMA"))
    args = parser.parse_args()
    dtype = torch.float64
    n_traj, t_end = (6, 4.0) if args.quick else (8, 6.0)
    steps, finetune, refit = (20, 15, 8) if args.quick else (60, 40, 20)

    alpha, beta, delta, gamma = args.params
    f = lotka_volterra(alpha, beta, delta, gamma)
    gen = torch.Generator().manual_seed(args.seed)
    eq = torch.tensor([gamma / delta, alpha / beta], dtype=dtype)  # the equilibrium
    x0 = eq * torch.empty(n_traj, 2, dtype=dtype).uniform_(0.35, 1.65, generator=gen)
    t = torch.arange(0, t_end + 1e-9, 0.1, dtype=dtype)
    clean, observed = simulate(f, x0, t, noise=args.noise, seed=args.seed + 1)
    print(f"data: {n_traj} trajectories x {len(t)} times, noise {args.noise:g} x std; "
          f"x in [{float(observed[..., 0].min()):.2f}, {float(observed[..., 0].max()):.2f}], "
          f"y in [{float(observed[..., 1].min()):.2f}, {float(observed[..., 1].max()):.2f}]")

    start = time.perf_counter()
    model = KAN([2, [0, 2], 2], grid=5, k=3, seed=args.seed, base_fun="identity", dtype=dtype)
    print(f"1. fit_ode: {model.config['width']} KAN, {steps} LBFGS steps")
    fit_ode(model, t, observed, window=4, steps=steps, log=10)
    kan_error = trajectory_error(model, t, clean)
    kan = model.copy()
    print(f"   KAN trajectory error (relative L2 over whole trajectories): {kan_error:.4f}")

    print(f"2. recover_symbolic: snap edges to linear, fine-tune {finetune} steps, threshold, refit")
    x, y = sp.symbols("x y")
    rec = recover_symbolic(model, t, observed, ["x", "y"], finetune_steps=finetune, refit_steps=refit, log=10)
    seconds = time.perf_counter() - start
    print("   the fine-tuned symbolic KAN's formula, expanded:")
    for name, e in zip(("dx/dt", "dy/dt"), rec.kan_formulas):
        print(f"     {name} = {e.evalf(4)}")
    formula_error = trajectory_error(rec.field, t, clean)

    truth = true_terms(alpha, beta, delta, gamma)
    print(f"\n{'':6}{'true':>28}   {'recovered':>32}")
    worst, spurious = 0.0, 0
    for name, tt, e in zip(("dx/dt", "dy/dt"), truth, rec.formulas):
        got = polynomial_terms(e, (x, y))
        print(f"{name:6}{str(as_expr(tt, x, y)):>28}   {str(as_expr(got, x, y)):>32}")
        for m in sorted(set(tt) | set(got)):
            label = str(x ** m[0] * y ** m[1])
            if m in tt:
                err = abs(got.get(m, 0.0) - tt[m]) / abs(tt[m])
                worst = max(worst, err)
                print(f"{'':8}{label:>6}: true {tt[m]:+.4f}  recovered {got.get(m, 0.0):+.4f}  relative error {err:.2e}")
            else:
                spurious += 1
                print(f"{'':8}{label:>6}: spurious term {got[m]:+.4g}")
    extra = f" ({spurious} spurious term(s) kept: more data, steps or a higher threshold may drop them)" if spurious else ""
    print(f"\nworst relative coefficient error: {worst:.2e}{extra}; trajectory error: KAN {kan_error:.4f}, "
          f"recovered formula {formula_error:.4f}; {seconds:.1f} s")

    os.makedirs(args.out, exist_ok=True)
    path = os.path.join(args.out, "kan_ode_trajectories.png")
    plot(t, f, observed, kan, rec.field, path)
    print(f"wrote {path}")


def plot(t: torch.Tensor, f, observed: torch.Tensor, kan: torch.nn.Module,  # type: ignore[no-untyped-def]
         formula: torch.nn.Module, path: str) -> None:
    """Phase plane and the first trajectory: the true field ``f``, the KAN and the recovered
    formula, each integrated from the first observed state of every trajectory."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    with torch.no_grad():
        fine = torch.linspace(float(t[0]), float(t[-1]), 4 * (len(t) - 1) + 1, dtype=t.dtype)
        x0 = observed[:, 0]
        learned = odeint_rk4(kan, x0, fine, substeps=1)
        recovered = odeint_rk4(formula, x0, fine, substeps=1)
        clean = odeint_rk4(f, x0, fine, substeps=4)
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.5))
    for i in range(clean.shape[0]):
        lab = i == 0
        axes[0].plot(clean[i, :, 0], clean[i, :, 1], "k-", lw=1, label="true" if lab else None)
        axes[0].plot(observed[i, :, 0], observed[i, :, 1], ".", color="0.6", ms=3, label="observed" if lab else None)
        axes[0].plot(learned[i, :, 0], learned[i, :, 1], "C0--", lw=1, label="KAN" if lab else None)
        axes[0].plot(recovered[i, :, 0], recovered[i, :, 1], "C3:", lw=1.5, label="recovered formula" if lab else None)
    axes[0].set_xlabel("prey x")
    axes[0].set_ylabel("predators y")
    axes[0].set_title("phase plane")
    axes[0].legend(fontsize=8)
    for d, name in enumerate(("x", "y")):
        axes[1].plot(fine, clean[0, :, d], "k-", lw=1, label=f"true {name}")
        axes[1].plot(fine, learned[0, :, d], "C0--", lw=1, label=f"KAN {name}")
        axes[1].plot(fine, recovered[0, :, d], "C3:", lw=1.5, label=f"formula {name}")
    axes[1].set_xlabel("t")
    axes[1].set_title("first trajectory")
    axes[1].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


if __name__ == "__main__":
    main()
