"""Time series with KANs: UCR classification and windowed forecasting, each against baselines.

Run:  python examples/time_series.py --quick            # 4 small UCR problems, short series (~1-2 min, one core)
      python examples/time_series.py                    # all 6 bundled problems (slower: 1-NN DTW on long series)
      python examples/time_series.py --datasets GunPoint,ArrowHead --out ts_out

Needs the `timeseries` extra (pip install 'kanlab[timeseries]': sktime, whose wheel ships the UCR
files; nothing is downloaded).

1. Classification on UCR problems with the archive's train/test split. Every method sees each series
   z-normalised. Under one budget for the two networks (the recipe of kanlab.estimators: inputs
   standardised, Adam lr 0.01 on the full batch, at most 1000 steps, early stopping on the
   validation log-loss of a stratified 20% of the training series with patience 30 and the best
   weights restored, L2 alpha 0.1 / (2 n)):
   - KAN: kanlab.timeseries.KANTimeSeriesClassifier (PAA of the series and its first difference,
     32 values each per channel, then KANClassifier: additive KAN or one hidden layer of 16, picked
     by the one-standard-error rule on the validation split);
   - MLP: the same features, one SiLU hidden layer with the trained KAN's parameter count, trained
     with the same loop (kanlab.supervised.train_module) and the same recipe;
   - the field's standard baselines: 1-NN with the Euclidean distance and 1-NN DTW (Sakoe-Chiba
     band 10% of the length), kanlab.timeseries.NearestNeighborClassifier.
   Prints test accuracy per problem and the median over problems.
2. Forecasting a generated noisy seasonal series (period 24): KAN and MLP one-step models on the last
   24 values, iterated 24 steps ahead from every origin of the test part, against the naive (last
   value) and seasonal-naive (value one period earlier) forecasts; and one-step forecasts of the
   chaotic logistic map x' = 3.9 x (1 - x) observed with noise. Prints RMSE; writes
   forecast.png to --out.
"""
from __future__ import annotations

import argparse
import os
import statistics
import time
from typing import Dict, List, Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from sklearn.model_selection import train_test_split  # noqa: E402
from sklearn.base import BaseEstimator  # noqa: E402

from kanlab.compare import mlp, mlp_width_for_params  # noqa: E402
from kanlab.preprocessing import Standardizer  # noqa: E402
from kanlab.supervised import train_module  # noqa: E402
from kanlab.timeseries import (KANForecaster, KANTimeSeriesClassifier, NearestNeighborClassifier,  # noqa: E402
                               SeriesFeatures, WindowForecaster, load_ucr, make_windows, ucr_info)

QUICK_DATASETS = ("GunPoint", "ItalyPowerDemand", "ArrowHead", "BasicMotions")
FULL_DATASETS = ("ArrowHead", "GunPoint", "ItalyPowerDemand", "OSULeaf", "ACSF1", "BasicMotions")
DTW_WINDOW = 0.1
BUDGET = dict(lr=0.01, steps=1000, patience=30, alpha=0.1, validation_fraction=0.2)


# ---------------------------------------------------------------------------------------- classification
class TorchMLP(BaseEstimator):
    """A one-hidden-layer SiLU MLP ``[d, hidden, n_out]`` trained with the recipe of
    kanlab.estimators (see the module docstring) through the same loop
    (kanlab.supervised.train_module): inputs (and regression targets) standardised on the training
    part, a 20% validation split (stratified for classification), Adam on the full batch, early
    stopping on the validation loss (cross-entropy or mean squared error) with the best weights
    restored, L2 ``alpha / (2 n)`` on the weights. ``fit(X (n, d), y (n,))``, ``predict(X) -> (n,)``."""

    def __init__(self, hidden: int = 16, task: str = "classification", random_state: int = 0) -> None:
        self.hidden = hidden
        self.task = task
        self.random_state = random_state

    def fit(self, X: np.ndarray, y: np.ndarray) -> "TorchMLP":
        seed = self.random_state
        classify = self.task == "classification"
        x = torch.tensor(np.asarray(X), dtype=torch.float32)
        codes = None
        if classify:
            self.classes_, codes = np.unique(y, return_inverse=True)
            t = torch.tensor(codes, dtype=torch.long)
            n_out = len(self.classes_)
        else:
            t = torch.tensor(np.asarray(y), dtype=torch.float32).reshape(-1, 1)
            n_out = 1
        tr, va = train_test_split(np.arange(len(x)), test_size=BUDGET["validation_fraction"], random_state=seed,
                                  stratify=codes)
        self.x_scaler_ = Standardizer(x[tr])
        z = self.x_scaler_.transform(x)
        if not classify:
            self.y_scaler_ = Standardizer(t[tr])
            t = self.y_scaler_.transform(t)
        torch.manual_seed(seed)
        self.net_ = net = mlp([x.shape[1], int(self.hidden), n_out])
        alpha = 0.5 * BUDGET["alpha"] / len(tr)
        weights = [m.weight for m in net if isinstance(m, torch.nn.Linear)]
        data_loss = F.cross_entropy if classify else F.mse_loss

        def loss_fn(m: torch.nn.Module, xb: torch.Tensor, yb: torch.Tensor, wb: object) -> torch.Tensor:
            return data_loss(m(xb), yb) + alpha * sum((w ** 2).sum() for w in weights)

        z_va, t_va = z[va], t[va]
        train_module(net, z[tr], t[tr], loss_fn, opt="Adam", lr=BUDGET["lr"], steps=BUDGET["steps"], seed=seed,
                     monitor=lambda: float(data_loss(net(z_va), t_va)), n_iter_no_change=BUDGET["patience"],
                     restore_best=True)
        net.eval()
        self.n_params_ = sum(p.numel() for p in net.parameters())
        return self

    def predict(self, X: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            out = self.net_(self.x_scaler_.transform(torch.tensor(np.asarray(X), dtype=torch.float32)))
        if self.task == "classification":
            return self.classes_[out.argmax(1).numpy()]
        return self.y_scaler_.inverse(out).numpy()[:, 0].astype(np.float64)


def matched_hidden(n_in: int, n_out: int, n_params: int) -> int:
    """The hidden width of ``[n_in, h, n_out]`` whose parameter count is closest to ``n_params``."""
    return mlp_width_for_params(n_in, n_out, n_params, depth=1)[1]


def kan_and_mlp(X_train: np.ndarray, y_train: np.ndarray, X_test: np.ndarray, y_test: np.ndarray, n_classes: int,
                seed: int) -> Dict[str, float]:
    """One seed of the two networks: test accuracies (%), parameter counts, seconds."""
    t0 = time.perf_counter()
    kan = KANTimeSeriesClassifier(random_state=seed, max_iter=BUDGET["steps"], alpha=BUDGET["alpha"]).fit(X_train, y_train)
    res = {"kan": 100.0 * kan.score(X_test, y_test), "kan_s": time.perf_counter() - t0,
           "kan_params": kan.num_parameters()}
    t0 = time.perf_counter()
    feats = SeriesFeatures().fit(X_train)
    F_train = feats.transform(X_train)
    net = TorchMLP(matched_hidden(F_train.shape[1], n_classes, res["kan_params"]), random_state=seed)
    pred = net.fit(F_train, y_train).predict(feats.transform(X_test))
    res.update(mlp=100.0 * float(np.mean(pred == y_test)), mlp_s=time.perf_counter() - t0, mlp_params=net.n_params_)
    return res


def classify_one(name: str, seeds: Sequence[int] = (0,), log=print) -> Dict[str, object]:
    """All four methods on one UCR problem: test accuracies (%) and timings (s); the networks'
    figures are means over ``seeds`` (the 1-NN baselines are deterministic)."""
    X_train, y_train, X_test, y_test = load_ucr(name)
    info = ucr_info(name)
    n_classes = len(info["classes"])
    row: Dict[str, object] = dict(dataset=info["name"], n_train=len(X_train), n_test=len(X_test),
                                  shape="x".join(str(s) for s in X_train.shape[1:]), classes=n_classes,
                                  n_seeds=len(seeds))
    for key, metric in (("ed", "euclidean"), ("dtw", "dtw")):
        t0 = time.perf_counter()
        nn_clf = NearestNeighborClassifier(metric=metric, window=DTW_WINDOW).fit(X_train, y_train)
        row[key] = 100.0 * nn_clf.score(X_test, y_test)
        row[key + "_s"] = time.perf_counter() - t0
    runs = [kan_and_mlp(X_train, y_train, X_test, y_test, n_classes, s) for s in seeds]
    for key in runs[0]:
        row[key] = float(np.mean([r[key] for r in runs]))
    row["kan_all"] = [r["kan"] for r in runs]
    row["mlp_all"] = [r["mlp"] for r in runs]
    log(f"  {row['dataset']:<17} 1-NN ED {row['ed']:5.1f}  1-NN DTW {row['dtw']:5.1f}  KAN {row['kan']:5.1f} "
        f"({row['kan_params']:.0f} params, {row['kan_s']:.1f} s)  MLP {row['mlp']:5.1f} ({row['mlp_params']:.0f} "
        f"params, {row['mlp_s']:.1f} s)" + (f"  [{len(seeds)} seeds]" if len(seeds) > 1 else ""))
    return row


def classification_table(rows: Sequence[Dict[str, object]]) -> str:
    """A markdown table: one row per problem, then the medians."""
    lines = ["| dataset | train / test | series | classes | 1-NN ED | 1-NN DTW (10%) | KAN (params, time) | "
             "MLP (params, time) |", "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['dataset']} | {r['n_train']} / {r['n_test']} | {r['shape']} | {r['classes']} | "
                     f"{r['ed']:.1f} | {r['dtw']:.1f} ({r['dtw_s']:.1f} s) | {r['kan']:.1f} ({r['kan_params']:,.0f}, "
                     f"{r['kan_s']:.1f} s) | {r['mlp']:.1f} ({r['mlp_params']:,.0f}, {r['mlp_s']:.1f} s) |")
    med = {k: statistics.median(float(r[k]) for r in rows) for k in ("ed", "dtw", "kan", "mlp")}
    lines.append(f"| **median** ({len(rows)} problems) | | | | **{med['ed']:.1f}** | **{med['dtw']:.1f}** | "
                 f"**{med['kan']:.1f}** | **{med['mlp']:.1f}** |")
    return "\n".join(lines)


def classify(names: Sequence[str], seeds: Sequence[int] = (0,), log=print) -> List[Dict[str, object]]:
    return [classify_one(n, seeds, log) for n in names]


# ---------------------------------------------------------------------------------------- forecasting
def seasonal_series(n: int, period: int = 24, noise: float = 0.2, seed: int = 0) -> np.ndarray:
    """``(n,)``: two harmonics of ``period``, a slow sine of 10 periods, Gaussian noise."""
    t = np.arange(n)
    rng = np.random.default_rng(seed)
    return (np.sin(2 * np.pi * t / period) + 0.5 * np.sin(4 * np.pi * t / period + 1.0)
            + 0.3 * np.sin(2 * np.pi * t / (10 * period)) + noise * rng.normal(size=n))


def logistic_map(n: int, r: float = 3.9, noise: float = 0.01, seed: int = 0) -> np.ndarray:
    """``(n,)``: the chaotic map ``x' = r x (1 - x)`` from x0 = 0.3 (after 100 burn-in steps),
    observed with Gaussian noise (the dynamics are noise-free)."""
    x = 0.3
    for _ in range(100):
        x = r * x * (1 - x)
    out = np.empty(n)
    for i in range(n):
        out[i] = x
        x = r * x * (1 - x)
    return out + noise * np.random.default_rng(seed).normal(size=n)


def mlp_forecaster(lags: int, n_params: int, seed: int) -> WindowForecaster:
    """The MLP one-step model (:class:`TorchMLP`, same recipe as the KAN) with about ``n_params``
    parameters, iterated like the KAN."""
    return WindowForecaster(TorchMLP(matched_hidden(lags, 1, n_params), task="regression", random_state=seed), lags=lags)


def rmse(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.sqrt(np.mean((np.asarray(a) - np.asarray(b)) ** 2)))


def forecast_seasonal(quick: bool, seed: int = 0, out: str = ".", log=print) -> Dict[str, float]:
    """Recursive 24-step forecasts from every origin of the last 20% of a noisy seasonal series."""
    period, lags, steps = 24, 24, 24
    n = 1200 if quick else 2400
    y = seasonal_series(n, period, seed=seed)
    split = int(0.8 * n)
    t0 = time.perf_counter()
    kan = KANForecaster(lags=lags, random_state=seed).fit(y[:split])
    kan_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    mlp_f = mlp_forecaster(lags, kan.regressor_.model_.num_parameters(), seed).fit(y[:split])
    mlp_s = time.perf_counter() - t0
    origins = np.arange(split, n - steps + 1)
    history = np.stack([y[o - lags:o] for o in origins])  # (n_origins, lags)
    truth = np.stack([y[o:o + steps] for o in origins])   # (n_origins, steps)
    preds = {"naive": np.repeat(history[:, -1:], steps, axis=1),
             "seasonal naive": np.stack([y[o - period + np.arange(steps) % period] for o in origins]),
             "MLP": mlp_f.forecast(steps, history), "KAN": kan.forecast(steps, history)}
    res = {k: rmse(v, truth) for k, v in preds.items()}
    res.update(kan_s=kan_s, mlp_s=mlp_s, n_origins=len(origins), kan_params=kan.regressor_.model_.num_parameters(),
               mlp_params=mlp_f.regressor_.n_params_, noise_floor=0.2)
    log(f"  seasonal, {steps}-step recursive from {len(origins)} origins: " +
        ", ".join(f"{k} {v:.3f}" for k, v in res.items() if k in preds) + " (noise sd 0.2)")

    o = 0
    plt.figure(figsize=(9, 3.5))
    ctx = np.arange(origins[o] - 3 * period, origins[o] + steps)
    plt.plot(ctx, y[ctx], color="0.6", lw=1, label="series")
    horizon = origins[o] + np.arange(steps)
    for k, style in (("seasonal naive", ":"), ("MLP", "--"), ("KAN", "-")):
        plt.plot(horizon, preds[k][o], style, lw=2, label=f"{k} (RMSE {res[k]:.3f})")
    plt.axvline(origins[o], color="k", lw=0.8)
    plt.title(f"{steps}-step forecast from the first test origin (RMSE over {len(origins)} origins)")
    plt.legend(fontsize=8, loc="upper left")
    plt.tight_layout()
    os.makedirs(out, exist_ok=True)
    path = os.path.join(out, "forecast.png")
    plt.savefig(path, dpi=110)
    plt.close()
    res["plot"] = path  # type: ignore[assignment]
    return res


def forecast_logistic(quick: bool, seed: int = 0, log=print) -> Dict[str, float]:
    """One-step forecasts of the noisy logistic map from its last 2 values."""
    lags = 2
    n = 600 if quick else 2000
    y = logistic_map(n, seed=seed)
    split = int(0.8 * n)
    kan = KANForecaster(lags=lags, random_state=seed).fit(y[:split])
    mlp_f = mlp_forecaster(lags, kan.regressor_.model_.num_parameters(), seed).fit(y[:split])
    X, Y = make_windows(y[split - lags:], lags)
    res = {"naive": rmse(X[:, -1], Y[:, 0]), "MLP": rmse(mlp_f.predict(X), Y[:, 0]), "KAN": rmse(kan.predict(X), Y[:, 0]),
           "noise_floor": 0.01}
    log(f"  logistic map, one step: naive {res['naive']:.4f}, MLP {res['MLP']:.4f}, KAN {res['KAN']:.4f} "
        f"(observation noise sd 0.01)")
    return res


def forecast_table(seasonal: Dict[str, float], logistic: Dict[str, float]) -> str:
    return "\n".join([
        "| series | naive | seasonal naive | MLP | KAN | noise sd |", "|---|---|---|---|---|---|",
        f"| seasonal (period 24), 24-step recursive, {seasonal['n_origins']} origins | {seasonal['naive']:.3f} | "
        f"{seasonal['seasonal naive']:.3f} | {seasonal['MLP']:.3f} | {seasonal['KAN']:.3f} | 0.2 |",
        f"| logistic map r = 3.9, one step | {logistic['naive']:.4f} | - | {logistic['MLP']:.4f} | "
        f"{logistic['KAN']:.4f} | 0.01 |"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help=f"only {', '.join(QUICK_DATASETS)}; shorter series")
    parser.add_argument("--datasets", default="", help="comma list of UCR problems (default: by --quick)")
    parser.add_argument("--out", default="time_series_output", help="folder for forecast.png")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "0")) or torch.get_num_threads())
    names = [n for n in args.datasets.split(",") if n] or list(QUICK_DATASETS if args.quick else FULL_DATASETS)
    start = time.perf_counter()

    print("1. UCR classification: test accuracy (%)")
    rows = classify(names, (args.seed,))
    print("\n" + classification_table(rows) + "\n")

    print("2. Forecasting: RMSE on the test part")
    seasonal = forecast_seasonal(args.quick, args.seed, args.out)
    logistic = forecast_logistic(args.quick, args.seed)
    print("\n" + forecast_table(seasonal, logistic))
    print(f"\nplot: {seasonal['plot']}; total {time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
