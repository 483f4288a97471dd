"""Issue 13: the scikit-learn estimators' defaults against scikit-learn's own baselines.

    python -m benchmarks.estimators                      # all datasets, writes BENCHMARKS.md's section
    python -m benchmarks.estimators --datasets diabetes --out ''   # one dataset, prints only

Every model runs with its defaults, as a user would first try it: ``KANRegressor(random_state=0)``
/ ``KANClassifier(random_state=0)`` on the raw features (they standardise inside), and
``make_pipeline(StandardScaler(), model)`` for scikit-learn's ``Ridge`` / ``LogisticRegression``
and ``MLPRegressor`` / ``MLPClassifier`` (``random_state=0``). Scores are 5-fold
``cross_validate`` with scikit-learn's default splits (unshuffled ``KFold`` for regression,
``StratifiedKFold`` for classification), mean ± standard deviation over the folds: R^2 for
regression, accuracy and log-loss for classification (lower is better; ``neg_log_loss`` negated).
"fit s" is the mean wall time of one fit. Everything runs on one thread (torch and BLAS).

Datasets: scikit-learn's bundled diabetes, breast cancer, wine and digits; California housing
only when ``fetch_california_housing`` finds it in the local cache (it downloads otherwise; this
script never does). With ``--before``, the KAN defaults before issue 13 (LBFGS, 100 steps,
``[d, 8, out]``, grid 5, no validation split) are scored on diabetes and breast cancer too.
"""
from __future__ import annotations

import argparse
import os
import time
import warnings
from typing import Any, Callable, Dict, List, Optional, Tuple

import numpy as np
import torch

from .common import machine, write_section

HERE = os.path.dirname(os.path.abspath(__file__))
TITLE = "## Estimator defaults vs scikit-learn (issue 13)"
DATASETS = ["diabetes", "breast_cancer", "wine", "digits", "california"]
# the defaults before issue 13, spelled out
BEFORE = dict(hidden_layer_sizes=(8,), grid=5, opt="LBFGS", max_iter=100, alpha=0.0, early_stopping=False,
              validation_fraction=0.1, n_iter_no_change=10)


def load(name: str) -> Optional[Tuple[np.ndarray, np.ndarray, str]]:
    """``(X, y, task)`` for a dataset name, task "regression" or "classification"; None when
    California housing is not cached locally."""
    from sklearn import datasets
    if name == "california":
        try:
            X, y = datasets.fetch_california_housing(return_X_y=True, download_if_missing=False)
        except OSError:
            return None
        return X, y, "regression"
    loader = {"diabetes": datasets.load_diabetes, "breast_cancer": datasets.load_breast_cancer,
              "wine": datasets.load_wine, "digits": datasets.load_digits}[name]
    X, y = loader(return_X_y=True)
    return X, y, "regression" if name == "diabetes" else "classification"


def models(task: str, before: bool) -> Dict[str, Callable[[], Any]]:
    """Column name -> a factory of a fresh estimator with its defaults."""
    from sklearn.linear_model import LogisticRegression, Ridge
    from sklearn.neural_network import MLPClassifier, MLPRegressor
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from kanlab.estimators import KANClassifier, KANRegressor
    kan = KANRegressor if task == "regression" else KANClassifier
    out: Dict[str, Callable[[], Any]] = {"KAN": lambda: kan(random_state=0)}
    if before:
        out["KAN before"] = lambda: kan(random_state=0, **BEFORE)
    if task == "regression":
        out["linear"] = lambda: make_pipeline(StandardScaler(), Ridge())
        out["MLP"] = lambda: make_pipeline(StandardScaler(), MLPRegressor(random_state=0))
    else:
        out["linear"] = lambda: make_pipeline(StandardScaler(), LogisticRegression())
        out["MLP"] = lambda: make_pipeline(StandardScaler(), MLPClassifier(random_state=0))
    return out


def score(factory: Callable[[], Any], X: np.ndarray, y: np.ndarray, task: str, folds: int) -> Dict[str, np.ndarray]:
    """5-fold (``folds``) cross-validated metrics ``{"r2"} or {"accuracy", "log_loss"}`` per fold,
    ``"fit_s"`` per fold, and for a KAN the architectures it chose (``"chose"``)."""
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.model_selection import cross_validate
    scoring = ["r2"] if task == "regression" else ["accuracy", "neg_log_loss"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # the MLP's defaults stop at max_iter=200 on some sets
        res = cross_validate(factory(), X, y, cv=folds, scoring=scoring, n_jobs=1, return_estimator=True)
    out = {"fit_s": res["fit_time"]}
    if task == "regression":
        out["r2"] = res["test_r2"]
    else:
        out["accuracy"] = res["test_accuracy"]
        out["log_loss"] = -res["test_neg_log_loss"]
    est = res["estimator"][0]
    if hasattr(est, "hidden_layer_sizes_"):
        out["chose"] = np.array([f"{list(e.hidden_layer_sizes_)} g{e.grid_}" for e in res["estimator"]])
    return out


def _cell(values: np.ndarray) -> str:
    return f"{values.mean():.3f} ± {values.std():.3f}"


def _chose(values: np.ndarray) -> str:
    """The architectures chosen over the folds, e.g. "[] g3 ×4, [16] g3 ×1"."""
    names, counts = np.unique(values, return_counts=True)
    return ", ".join(f"{n} ×{c}" for n, c in sorted(zip(names, counts), key=lambda t: -t[1]))


def main(argv: Optional[List[str]] = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", default=",".join(DATASETS), help="comma list of " + ",".join(DATASETS))
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--before", action="store_true",
                        help="also score the defaults before issue 13 (diabetes and breast cancer only)")
    parser.add_argument("--threads", type=int, default=1, help="torch and BLAS threads")
    parser.add_argument("--out", default=os.path.join(HERE, "..", "BENCHMARKS.md"), help="markdown file ('' = none)")
    args = parser.parse_args(argv)
    from threadpoolctl import threadpool_limits
    torch.set_num_threads(args.threads)
    names = [n for n in args.datasets.split(",") if n]
    unknown = sorted(set(names) - set(DATASETS))
    if unknown:
        parser.error(f"unknown datasets {unknown}; choose from {DATASETS}")

    cmd = "python -m benchmarks.estimators" + (f" --datasets {args.datasets}" if args.datasets != ",".join(DATASETS) else "") \
        + (f" --folds {args.folds}" if args.folds != 5 else "") + (" --before" if args.before else "")
    cols = ["KAN", "KAN before", "linear", "MLP"] if args.before else ["KAN", "linear", "MLP"]
    head = " | ".join({"KAN": "KAN (defaults)", "KAN before": "KAN (before)", "linear": "Ridge / LogReg",
                       "MLP": "MLP"}[c] for c in cols)
    lines = [TITLE, "",
             f"Command: `OMP_NUM_THREADS={args.threads} {cmd}`  \nMachine: {machine()}. "
             f"{args.folds}-fold `cross_validate` (scikit-learn's default unshuffled splits), mean ± std over the folds; "
             "every model with its defaults: `KANRegressor/KANClassifier(random_state=0)` on raw features, scikit-learn's "
             "`Ridge`/`LogisticRegression` and `MLPRegressor/MLPClassifier(random_state=0)` after a `StandardScaler`. "
             "Log-loss: lower is better. *fit s*: mean seconds per fit (KAN, linear, MLP). *KAN chose*: the "
             "architecture `hidden_layer_sizes=\"auto\"` kept and the `grid=\"auto\"` size, per fold.", "",
             f"| dataset | rows × features | metric | {head} | KAN chose | fit s |",
             "|---|---|---|" + "---|" * len(cols) + "---|---|"]
    print("\n".join(lines), flush=True)
    notes: List[str] = []
    with threadpool_limits(limits=args.threads):
        for name in names:
            data = load(name)
            if data is None:
                note = (f"{name}: skipped, `fetch_california_housing(download_if_missing=False)` found no copy in "
                        "the local scikit-learn data folder (this script never downloads).")
                print(note, flush=True)
                notes.append(note)
                continue
            X, y, task = data
            factories = models(task, args.before and name in ("diabetes", "breast_cancer"))
            start = time.perf_counter()
            results = {col: score(f, X, y, task, args.folds) for col, f in factories.items()}
            metrics = ["r2"] if task == "regression" else ["accuracy", "log_loss"]
            fit_s = ", ".join(f"{results[c]['fit_s'].mean():.2f}" for c in ("KAN", "linear", "MLP"))
            for i, metric in enumerate(metrics):
                cells = [_cell(results[c][metric]) if c in results else "" for c in cols]
                label = {"r2": "R²", "accuracy": "accuracy", "log_loss": "log-loss"}[metric]
                row = (f"| {name} | {X.shape[0]} × {X.shape[1]} | {label} | " + " | ".join(cells) +
                       f" | {_chose(results['KAN']['chose']) if i == 0 else ''} | {fit_s if i == 0 else ''} |")
                print(row, flush=True)
                lines.append(row)
            print(f"  ({name}: {time.perf_counter() - start:.0f} s)", flush=True)
    if notes:
        lines += [""] + notes
    if args.out:
        write_section(args.out, TITLE, "\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
