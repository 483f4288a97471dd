"""Claims 5 and 6 of CLAIMS.md, measured: classification with KANs vs MLPs.

5. Tabular: Poker Hand (UCI sizes: 25,010 random training hands, 100,000 test hands; and a
   1,000,000-hand training variant on the same test hands), Adult, MAGIC, breast cancer, digits.
6. MNIST and Fashion-MNIST: KAN [784, 64, 10], 10 epochs of AdamW as in the mission document's
   sample (``examples/mnist.py``: lr 1e-3, weight decay 1e-4, ExponentialLR 0.8 per epoch, batch 64).

Every KAN (grid 5, k 3; tabular: uniform grids spanning 10,000 training rows, ``grid_eps=1``, which
keeps the fast uniform-grid path where quantile grids cost ~1.6x per step; images: the default
[-1, 1] grid, as in the sample) is compared with a
SiLU MLP with two hidden layers of equal width and the KAN's parameter count
(``common.mlp_widths_for_params``), trained twice with the same recipe: for the KAN's number of
epochs (matched parameters) and for the KAN's wall time (matched time: the epoch count scaled by
the measured time ratio, the learning-rate decay spread over the longer run). Classification is
cross-entropy on logits; accuracy is measured on the test split once, after training. Inputs are
standardised with the training split's statistics (images: (x - 0.5) / 0.5, as the sample does).
Every run is AdamW with mini-batches drawn as shuffled epochs; the total learning-rate decay is the
sample's (0.8 per epoch over 10 epochs, x0.107), spread over each run's epochs (``kanlab.loop.train_loop``
with an ExponentialLR as its per-epoch scheduler).

The KANs run uncompiled: ``KAN.compile()`` saved ~10% per MNIST step on one core but its compile
time (tens of seconds) eats that within this budget.

    OMP_NUM_THREADS=1 python -m benchmarks.claims_tabular --quick   # < 3 min on one core
    OMP_NUM_THREADS=1 python -m benchmarks.claims_tabular           # ~15-20 min on one core
    python -m benchmarks.claims_tabular --quick --claims 6 --out ''  # one claim, no CLAIMS.md
"""
from __future__ import annotations

import argparse
import os
import time
from dataclasses import dataclass
from typing import Dict, List, Optional, Tuple

import numpy as np
import torch
import torch.nn.functional as F

from kanlab import KAN
from kanlab.datasets import load_tabular, poker_hands, standardize
from kanlab.loop import train_loop

from .common import CLAIMS, CLAIMS_HEADER, machine, mlp, mlp_widths_for_params, write_section

SEED = 0
TOTAL_DECAY = 0.8 ** 10  # the sample's ExponentialLR(0.8) over its 10 epochs


@dataclass
class Task:
    """One dataset's setup: KAN hidden width, epochs (full, quick), batch, learning rate, and the
    claim as stated (accuracies in %; ``winner`` is the side the claim says is better)."""
    key: str
    title: str
    dataset: str
    hidden: int
    epochs: int
    quick_epochs: int
    batch: int
    lr: float
    claim: str
    claim_kan: Optional[float] = None
    claim_mlp: Optional[float] = None
    winner: str = "kan"
    train_rows: Optional[int] = None  # poker: generated training hands instead of the loader's
    quick_rows: Optional[int] = None  # --quick: subsample the training split to this many rows
    quick_test: Optional[int] = None
    classes: Optional[int] = None  # when a split may miss a class (poker)
    adapt_grid: bool = True  # uniform grids spanning a training sample; False: the default [-1, 1]


TABULAR = [
    Task("poker", "Poker Hand (25,010 train)", "poker", 20, 150, 25, 512, 1e-2,
         "KAN 99.91% vs MLP 92.44% (mission document); prior measurement here, not rerun: pykan [10,20,10] "
         "80.2% in 200 s, MLP [10,256,256,256,10] 59%", 99.91, 92.44, quick_test=20000, classes=10),
    Task("poker-1m", "Poker Hand (1M train)", "poker", 20, 6, 1, 512, 1e-2,
         "KAN 99.91% vs MLP 92.44% (mission document; training-set size not stated)", 99.91, 92.44,
         train_rows=1_000_000, quick_rows=150_000, quick_test=20000, classes=10),
    Task("adult", "Adult", "adult", 8, 20, 3, 512, 1e-2, "KAN 85.93% vs MLP 85.72%", 85.93, 85.72),
    Task("magic", "MAGIC", "magic", 16, 60, 10, 512, 1e-2, "KAN 86.94% vs MLP 85.94%", 86.94, 85.94),
    Task("breast_cancer", "Breast cancer", "breast_cancer", 4, 200, 40, 64, 1e-2,
         "MLP 96.84% vs KAN 94.56% (the MLP ahead)", 94.56, 96.84, winner="mlp"),
    Task("digits", "Digits (sklearn 8x8)", "digits", 16, 100, 20, 64, 1e-2, "no number claimed; reported for reference"),
]
IMAGES = [
    Task("mnist", "MNIST", "mnist", 64, 10, 2, 64, 1e-3,
         "KAN [784,64,10], 10 epochs AdamW: ~97% (mission document; efficient-kan README ~97%)", 97.0,
         quick_rows=6000, quick_test=2000, adapt_grid=False),
    Task("fashion-mnist", "Fashion-MNIST", "fashion-mnist", 64, 10, 2, 64, 1e-3,
         "no number claimed (\"likewise\"); Yu et al. 2024 (<= 5e5 params): KAN 87.83% vs MLP 89.24%",
         quick_rows=6000, quick_test=2000, adapt_grid=False),
]


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def get_data(task: Task, quick: bool) -> Tuple[torch.Tensor, ...]:
    X_train, y_train, X_test, y_test = load_tabular(task.dataset, seed=SEED)
    if task.train_rows is not None:
        rows = task.quick_rows if quick and task.quick_rows else task.train_rows
        X_train, y_train = poker_hands(rows, seed=SEED + 17)
        X_train = X_train.astype(np.float32)
    elif quick and task.quick_rows:
        X_train, y_train = X_train[: task.quick_rows], y_train[: task.quick_rows]
    if quick and task.quick_test:
        X_test, y_test = X_test[: task.quick_test], y_test[: task.quick_test]
    if task.dataset in ("mnist", "fashion-mnist"):
        X_train, X_test = (X_train - 0.5) / 0.5, (X_test - 0.5) / 0.5
    else:
        X_train, X_test = standardize(X_train, X_test)  # poker-1m: scaled by its own training hands
    return tuple(torch.from_numpy(np.ascontiguousarray(a)) for a in (X_train, y_train, X_test, y_test))


def train_epochs(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, epochs: int, batch: int,
                 lr: float, seed: int) -> Dict[str, float]:
    """AdamW (weight decay 1e-4) on shuffled mini-batches (seeded epochs), the learning rate
    decaying by ``TOTAL_DECAY`` over ``epochs`` (an ExponentialLR stepped per epoch), through
    ``kanlab.loop.train_loop`` without the per-step state copy (it would weigh on the MLP's short
    steps and skew the time ratio). Returns the training seconds and the last epoch's mean loss."""

    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=1e-4)
    per_epoch = -(-x.shape[0] // batch)
    res = train_loop(model, lambda xb, yb: F.cross_entropy(model(xb), yb), (x, y), opt=opt, steps=epochs * per_epoch,
                     batch_size=batch, seed=seed, rollback=False, progress=False,
                     scheduler=torch.optim.lr_scheduler.ExponentialLR(opt, gamma=TOTAL_DECAY ** (1.0 / epochs)))
    last = res.loss_curve[-per_epoch:]
    return {"seconds": res.seconds, "loss": sum(last) / max(len(last), 1)}


@torch.no_grad()
def accuracy(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    model.eval()
    hits = sum(int((model(x[i:i + 8192]).argmax(1) == y[i:i + 8192]).sum()) for i in range(0, x.shape[0], 8192))
    return 100.0 * hits / x.shape[0]


def run_task(task: Task, quick: bool) -> Dict[str, object]:
    x, y, xt, yt = get_data(task, quick)
    d, c = x.shape[1], task.classes or int(max(y.max(), yt.max())) + 1
    epochs = task.quick_epochs if quick else task.epochs
    log(f"{task.title}: train {tuple(x.shape)}, test {tuple(xt.shape)}, {c} classes, {epochs} epochs")

    torch.manual_seed(SEED)
    kan = KAN([d, task.hidden, c], grid=5, k=3, seed=SEED, grid_eps=1.0)
    if task.adapt_grid:
        kan.update_grid_from_samples(x[torch.randperm(x.shape[0], generator=torch.Generator().manual_seed(SEED))[:10000]])
    n_params = kan.num_parameters()
    k_fit = train_epochs(kan, x, y, epochs, task.batch, task.lr, SEED)
    k_acc = accuracy(kan, xt, yt)
    log(f"  KAN {kan.width}: {n_params} params, {k_acc:.2f}% in {k_fit['seconds']:.1f} s (loss {k_fit['loss']:.4f})")

    widths = mlp_widths_for_params(d, c, n_params, depth=2)
    torch.manual_seed(SEED)
    m = mlp(widths)
    m_params = sum(p.numel() for p in m.parameters())
    m_fit = train_epochs(m, x, y, epochs, task.batch, task.lr, SEED)
    m_acc = accuracy(m, xt, yt)
    log(f"  MLP {widths}: {m_params} params, {m_acc:.2f}% in {m_fit['seconds']:.1f} s (same epochs)")

    ratio = k_fit["seconds"] / max(m_fit["seconds"], 1e-9)
    t_epochs = max(1, int(round(epochs * ratio)))
    if t_epochs == epochs:
        t_fit, t_acc = m_fit, m_acc
    else:
        torch.manual_seed(SEED)
        m2 = mlp(widths)
        t_fit = train_epochs(m2, x, y, t_epochs, task.batch, task.lr, SEED)
        t_acc = accuracy(m2, xt, yt)
    log(f"  MLP {widths}: {t_acc:.2f}% in {t_fit['seconds']:.1f} s ({t_epochs} epochs, matched time)")
    return dict(task=task, n_train=x.shape[0], n_test=xt.shape[0], epochs=epochs, kan_width=kan.width,
                kan_params=n_params, kan_acc=k_acc, kan_s=k_fit["seconds"], mlp_widths=widths, mlp_params=m_params,
                mlp_acc=m_acc, mlp_s=m_fit["seconds"], t_epochs=t_epochs, t_acc=t_acc, t_s=t_fit["seconds"])


def verdict(r: Dict[str, object]) -> str:
    """holds / partly / does not hold here, from the claim's two parts: the claimed ordering of KAN
    and MLP at matched parameters and at matched time (the claimed side must be ahead; behind by
    less than the noise margin, 0.5 points or one test sample, makes it a tie: "partly"); and the
    KAN's (or, for an MLP-favoured claim, the MLP's) accuracy level (within 2 points of the claimed
    one)."""
    task: Task = r["task"]
    if task.claim_kan is None:
        return "no claim"
    tol = max(0.5, 100.0 / r["n_test"])
    if task.claim_mlp is None:  # a level-only claim (MNIST ~97%)
        gap = task.claim_kan - r["kan_acc"]
        return "holds" if gap <= 0.5 else "partly" if gap <= 2.0 else "does not hold here"
    sign = 1.0 if task.winner == "kan" else -1.0
    lead = [sign * (r["kan_acc"] - r[k]) for k in ("mlp_acc", "t_acc")]  # the claimed side's lead
    level = (r["kan_acc"] >= task.claim_kan - 2.0 if task.winner == "kan"
             else max(r["mlp_acc"], r["t_acc"]) >= task.claim_mlp - 2.0)
    if all(d > 0 for d in lead) and level:
        return "holds"
    if all(d > -tol for d in lead) and level:
        return "partly (tie within noise)"
    return "partly" if any(d > 0 for d in lead) or level else "does not hold here"


def table(results: List[Dict[str, object]], per_epoch: bool) -> str:
    head = ("| dataset | train / test | claim | KAN (width, params) | KAN acc, time | MLP matched params (width) | "
            "MLP acc, time | MLP matched time | verdict |")
    rows = [head, "|" + "---|" * 9]
    for r in results:
        t: Task = r["task"]
        unit = (lambda s, e: f"{s:.0f} s ({s / e:.1f} s/epoch)") if per_epoch else (lambda s, e: f"{s:.1f} s")
        rows.append(
            f"| {t.title} | {r['n_train']:,} / {r['n_test']:,} | {t.claim} | {r['kan_width']}, {r['kan_params']:,} | "
            f"**{r['kan_acc']:.2f}%**, {unit(r['kan_s'], r['epochs'])}, {r['epochs']} epochs | {r['mlp_widths']}, "
            f"{r['mlp_params']:,} | **{r['mlp_acc']:.2f}%**, {unit(r['mlp_s'], r['epochs'])} | "
            f"**{r['t_acc']:.2f}%**, {r['t_s']:.1f} s, {r['t_epochs']} epochs | {verdict(r)} |")
    return "\n".join(rows)


def section(title: str, intro: str, results: List[Dict[str, object]], per_epoch: bool, footer: str) -> str:
    return f"{title}\n\n{intro}\n\n{table(results, per_epoch)}\n\n{notes(results)}\n{footer}"


def notes(results: List[Dict[str, object]]) -> str:
    out = []
    for r in results:
        t: Task = r["task"]
        speed = r["kan_s"] / max(r["mlp_s"], 1e-9)
        out.append(f"- {t.title}: KAN {r['kan_acc']:.2f}% vs MLP {r['mlp_acc']:.2f}% (matched parameters) / "
                   f"{r['t_acc']:.2f}% (matched time); a KAN epoch took {speed:.1f}x the parameter-matched MLP's.")
    return "\n".join(out)


INTRO_5 = (
    "Claims (mission document): Poker Hand KAN 99.91% vs MLP 92.44%; Adult 85.93 vs 85.72; MAGIC 86.94 vs 85.94; "
    "breast cancer MLP 96.84 vs KAN 94.56. Published context: Yu et al. 2024 ('KAN or MLP: a fairer comparison') "
    "find KAN and MLP about equal on tabular data (Income 86.05 vs 85.43, Telescope 86.07 vs 85.91); Poeta et al. "
    "2024 report KANs superior or comparable on UCI tabular sets at a higher computational cost. Poker Hand here: "
    "uniformly random hands (kanlab.datasets.poker, the UCI encoding: 5 x (suit, rank) as 10 numbers, standardised), "
    "so the rarest classes are near-absent from a 25,010-hand training set (UCI's file oversamples them); the test "
    "set is 100,000 random hands. Adult: one-hot categoricals (105 features), UCI's split; MAGIC, breast cancer, "
    "digits: seeded stratified 80/20 splits (kanlab.datasets.load_tabular). Setup as in this script's docstring; "
    "KAN grid 5, k 3, uniform grids spanning 10,000 training rows; MLP: SiLU, two hidden layers, the KAN's parameter count. Verdict: the claim's ordering "
    "(KAN vs MLP, within 0.5 points or one test sample) at both matchings plus the claimed accuracy level "
    "(within 2 points) = holds; one of these = partly; none = does not hold here. There is no validation split "
    "or early stopping: a time-matched run is a longer run of the same recipe and can overfit where the "
    "parameter-matched one did not."
)
INTRO_6 = (
    "Claim (mission document): KAN [784, 64, 10] reaches ~97% on MNIST after 10 epochs of AdamW (lr 1e-3, weight "
    "decay 1e-4, ExponentialLR 0.8, batch 64; efficient-kan's README reports ~97% with this recipe); "
    "Fashion-MNIST 'likewise' (no number). Published context: Yu et al. 2024 find MLPs ahead on vision at matched "
    "parameters (MNIST best KAN 96.16% vs MLP 98.22%; Fashion-MNIST <= 5e5 params: KAN 87.83% vs MLP 89.24%). "
    "Here: the sample's recipe exactly (pixels (x - 0.5) / 0.5, shuffled batches of 64, the KAN's default grid on "
    "[-1, 1]); the MLP [784, h, h, 10] has the KAN's parameter count. "
    "Verdict for MNIST: the ~97% level (holds within 0.5 points, partly within 2)."
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="small budget (< 3 min on one core)")
    parser.add_argument("--claims", default="5,6", help="subset of 5,6")
    parser.add_argument("--out", default=CLAIMS, help="markdown file to update ('' to skip)")
    parser.add_argument("--only", default="", help="comma list of task keys to run (debugging; the section then "
                        "holds only those)")
    args = parser.parse_args()
    chosen = [c for c in args.claims.split(",") if c]
    if [c for c in chosen if c not in ("5", "6")]:
        parser.error(f"--claims takes a subset of 5,6, got {args.claims!r}")
    command = ("OMP_NUM_THREADS=1 python -m benchmarks.claims_tabular" + (" --quick" if args.quick else "")
               + ("" if args.claims == "5,6" else f" --claims {args.claims}")
               + (f" --only {args.only}" if args.only else ""))
    only = set(args.only.split(",")) - {""}
    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "0")) or torch.get_num_threads())
    start = time.perf_counter()
    for claim, title, tasks, intro, per_epoch in (("5", "## 5. Tabular classification", TABULAR, INTRO_5, False),
                                                   ("6", "## 6. MNIST and Fashion-MNIST", IMAGES, INTRO_6, True)):
        if claim not in chosen:
            continue
        t0 = time.perf_counter()
        results = [run_task(t, args.quick) for t in tasks if not only or t.key in only]
        if not results:
            continue
        footer = (f"\nCommand: `{command}` ({'quick: subsampled, fewer epochs' if args.quick else 'full'} mode; "
                  f"seeds: data splits, KAN, MLP and batch order all seed {SEED}; one seed, no restarts, so "
                  f"differences under ~0.5 points are noise); {machine()}; this section took "
                  f"{time.perf_counter() - t0:.0f} s. pykan: not rerun here (its Poker figure above is a prior "
                  "measurement on this machine).\n")
        text = section(title, intro, results, per_epoch, footer)
        print("\n" + text, flush=True)
        if args.out:
            write_section(args.out, title, text, header=CLAIMS_HEADER)
    log(f"total {time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
