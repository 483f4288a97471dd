"""scikit-learn estimators: :class:`KANRegressor` and :class:`KANClassifier`.

They follow scikit-learn's conventions: the constructor only stores its arguments, ``fit`` learns,
learned state ends in ``_``, and both work in a ``Pipeline``, ``GridSearchCV`` and ``clone``::

    from kanlab.estimators import KANClassifier
    clf = KANClassifier(random_state=0)     # the defaults: see "Defaults" below
    clf.fit(X_train, y_train).score(X_test, y_test)

Inputs are standardised inside (and targets too, for the regressor), so raw features can be passed
in. Training is :func:`kanlab.supervised.train_module` (over :func:`kanlab.loop.train_loop`): deterministic
given ``random_state``.
Needs scikit-learn (>= 1.6); ``import kanlab`` does not.

Defaults (issue 13; measured in ``benchmarks/estimators.py``, BENCHMARKS.md). A KAN has many
parameters per edge (``grid + k + 2``), and the small tables scikit-learn users try first have a few
hundred rows, so the defaults are chosen to generalise, not to drive the training loss to zero:

- ``early_stopping=True``: a stratified ``validation_fraction=0.2`` of the rows is held out, the
  validation loss (mean squared error on standardised targets; log-loss for the classifier) is
  evaluated after every step (full batch: every epoch), training stops once it has not improved
  for ``n_iter_no_change=30`` epochs and the weights of the best epoch are restored. This is also
  what keeps the classifier's probabilities calibrated: the iterate is chosen by held-out
  log-loss, not accuracy, so the logits stop growing once more confidence no longer pays on unseen
  rows.
- ``opt="Adam"`` (lr 0.01), ``max_iter=1000`` steps, full batch. An L-BFGS "step" is 20 inner
  iterations with line searches, too coarse for early stopping: on diabetes (317 training rows
  after the split) the first step takes the standardised training MSE from 0.94 to 0.23 and the
  validation MSE is lowest right after it, so early stopping kept step 1 (the issue's
  ``best_iter_=1``); the old ``[10, 8, 1]`` KAN (880 parameters) then interpolated the rows.
- ``alpha=0.1``: an L2 penalty ``alpha / (2 n_train) * sum(w ** 2)`` over the effective edge weights
  (the spline coefficients times their scale, and the base-function weights), scikit-learn's MLP
  convention (a Gaussian prior whose pull fades as rows are added). It keeps the optimum finite on
  separable classes (logits cannot grow without bound), while early stopping does most of the
  regularising.
- ``grid="auto"``: ``round(n_train ** (1/5) / 1.5)`` clipped to ``[3, 10]`` (:func:`auto_grid`): the
  number of spline intervals grows like ``n ** (1/5)``, the classic rate for the knots of cubic
  regression splines; the constant gives 3 intervals below 3,989 training rows (with 3 the additive
  KAN did as well as with 5 or better on every bundled table, and both architectures did on
  Friedman #1 up to 2,400 training rows), 5 from 14,013, 8 from 180,204 and 10 from 587,590.
- ``hidden_layer_sizes="auto"``: fit two KANs on the same split, the additive one ``[d, n_out]`` (a
  generalised additive model: one spline per feature and output) and ``[d, 16, n_out]`` (one hidden
  layer, for interactions), and keep the additive one unless the other's validation loss is lower
  by more than one standard error (:func:`one_se_choice`, CART's one-standard-error rule;
  ``candidate_losses_`` shows both). On diabetes, breast cancer and digits the additive model was
  as good or better (wine: a tie), and picking the raw minimum on ~70 validation rows cost 0.04 of
  diabetes' cross-validated R^2; on a problem with interactions (Friedman #1) the hidden
  layer wins clearly and is kept. Without early stopping there is no held-out loss to choose by and
  "auto" is ``(16,)``.

Not used, and why: a temperature fitted on the validation split (Guo et al.'s temperature
scaling). The split is the one early stopping already chose the epoch on, and on small tables it is
often perfectly separated, so the fitted temperature collapses towards 0 and the probabilities
become extreme: it raised the cross-validated log-loss on wine from 0.07 to 0.39. Label smoothing
was not used either: it biases every probability away from 0 and 1 instead of calibrating them.
"""
from __future__ import annotations

import math
from typing import Any, Callable, List, Optional, Sequence, Tuple

import numpy as np
import torch

try:
    from sklearn.utils.validation import check_is_fitted, validate_data
except ImportError as err:  # pragma: no cover - depends on the environment
    raise ImportError("kanlab.estimators needs scikit-learn >= 1.6: pip install 'kanlab[sklearn]'") from err
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
from sklearn.model_selection import train_test_split
from sklearn.utils import check_random_state
from sklearn.utils.class_weight import compute_sample_weight
from sklearn.utils.multiclass import check_classification_targets

from .loop import TrainResult, default_lr
from .model import KAN
from .optim import OPTIMIZERS
from .preprocessing import Standardizer
from .supervised import grid_update_hook, train_module
from .train import regularizer
from .validation import check_int, check_optional_int, check_optional_real, check_real, is_int

__all__ = ["KANRegressor", "KANClassifier", "auto_grid", "l2_penalty", "one_se_choice"]

_PREDICT_CHUNK = 65536
AUTO_HIDDEN = 16  # the hidden width hidden_layer_sizes="auto" tries


def _is_auto(value: Any) -> bool:
    return isinstance(value, str) and value == "auto"


def auto_grid(n_train: int) -> int:
    """``grid="auto"``: ``round(n_train ** (1/5) / 1.5)`` clipped to ``[3, 10]``. The knots of a
    cubic regression spline should grow like ``n ** (1/5)``; the constant keeps 3 intervals below
    3,989 training rows (see the module docstring), then 4, 5 from 14,013, ..., 10 from 587,590."""
    return int(min(10, max(3, round(n_train ** 0.2 / 1.5))))


def l2_penalty(model: KAN) -> torch.Tensor:
    """``sum(w ** 2)`` over a KAN's effective edge weights: every spline coefficient times its
    edge's ``scale_spline``, and every ``scale_base`` (masked edges excluded). The B-splines sum to
    one, so a coefficient is on the scale of the function's values: this shrinks each edge
    function towards zero, the way an MLP's weight decay shrinks its weights."""
    total = model.layers[0].coef.new_zeros(())
    for layer in model.layers:
        total = total + ((layer.coef * (layer.scale_spline * layer.mask).unsqueeze(-1)) ** 2).sum()
        if layer.scale_base.requires_grad:
            total = total + ((layer.scale_base * layer.mask) ** 2).sum()
    return total


class _KANEstimator(BaseEstimator):
    """Shared machinery: parameter checks, scaling, building and training the KAN, prediction."""

    # set by subclasses' __init__ (scikit-learn reads parameters from the __init__ signature)
    hidden_layer_sizes: Any
    grid: Any
    k: int
    opt: str
    max_iter: int
    lr: Optional[float]
    batch_size: Optional[int]
    alpha: float
    lamb: float
    update_grid: bool
    early_stopping: bool
    validation_fraction: float
    n_iter_no_change: Optional[int]
    tol: float
    random_state: Any
    device: Optional[str]
    verbose: int

    # ------------------------------------------------------------------ subclass hooks
    def _n_outputs(self, y: np.ndarray) -> int:
        raise NotImplementedError

    def _loss(self, out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Per-row loss ``(batch,)`` of the KAN's output ``(batch, n_out)`` against targets."""
        raise NotImplementedError

    # ------------------------------------------------------------------ checks
    def _check_params(self) -> None:
        hidden = self.hidden_layer_sizes
        if is_int(hidden):
            hidden = (hidden,)
        if not _is_auto(hidden) and (isinstance(hidden, (str, bytes)) or not isinstance(hidden, Sequence) or not all(
                is_int(h) and h >= 1 for h in hidden)):
            raise ValueError(f"hidden_layer_sizes must be 'auto' or a tuple of positive ints such as (8,) (or () "
                             f"for no hidden layer), got {self.hidden_layer_sizes!r}")
        if not _is_auto(self.grid):
            check_int("grid", self.grid, low=1, note="or 'auto'")
        for name in ("k", "max_iter"):
            check_int(name, getattr(self, name), low=1)
        if self.opt not in OPTIMIZERS:
            raise ValueError(f"opt must be one of {OPTIMIZERS}, got {self.opt!r}")
        check_optional_real("lr", self.lr, low=0, low_inclusive=False, note="1.0 for LBFGS, 0.01 for Adam")
        check_optional_int("batch_size", self.batch_size, low=1, note="full batch")
        check_real("alpha", self.alpha, low=0)
        check_real("lamb", self.lamb, low=0, finite=False)
        check_real("validation_fraction", self.validation_fraction, low=0, low_inclusive=False,
                   high=1, high_inclusive=False)
        check_optional_int("n_iter_no_change", self.n_iter_no_change, low=1)
        check_real("tol", self.tol, low=0, finite=False)

    def _hidden_candidates(self) -> List[Tuple[int, ...]]:
        """The architectures to try: the given one, or for "auto" the additive KAN and one hidden
        layer of ``AUTO_HIDDEN`` (only the latter without a validation split to choose by)."""
        hidden = self.hidden_layer_sizes
        if _is_auto(hidden):
            return [(), (AUTO_HIDDEN,)] if self.early_stopping else [(AUTO_HIDDEN,)]
        return [(int(hidden),) if is_int(hidden) else tuple(int(h) for h in hidden)]

    def _grid(self, n_train: int) -> int:
        """The grid size: ``grid``, or for "auto" ``round(n_train ** (1/5) / 1.5)`` in ``[3, 10]``."""
        return auto_grid(n_train) if _is_auto(self.grid) else int(self.grid)

    def _device(self) -> torch.device:
        return torch.device(self.device if self.device is not None else "cpu")

    # ------------------------------------------------------------------ training
    def _fit(self, X: np.ndarray, targets: np.ndarray, weights: Optional[np.ndarray],
             stratify: Optional[np.ndarray]) -> "_KANEstimator":
        """Train on validated ``X`` ``(n, d)`` and encoded ``targets`` (float ``(n, n_out)`` or int
        ``(n,)``). ``weights`` ``(n,)``: per-row loss weights or None."""
        rng = check_random_state(self.random_state)
        model_seed, batch_seed, split_seed = (int(s) for s in rng.randint(np.iinfo(np.int32).max, size=3))
        n = X.shape[0]
        rows = np.arange(n)
        if self.early_stopping:
            n_val = int(math.ceil(self.validation_fraction * n))
            if n_val < 1 or n - n_val < 1:
                raise ValueError(f"early_stopping needs at least 2 samples to hold out validation_fraction="
                                 f"{self.validation_fraction} of them, got n_samples={n}")
            can_stratify = stratify is not None and np.unique(stratify, return_counts=True)[1].min() >= 2 \
                and n_val >= len(np.unique(stratify))
            train_rows, val_rows = train_test_split(rows, test_size=n_val, random_state=split_seed,
                                                    stratify=stratify if can_stratify else None)
        else:
            train_rows, val_rows = rows, rows[:0]

        device = self._device()
        x_all = torch.tensor(np.asarray(X, dtype=np.float32), device=device)
        x_scaler = Standardizer(x_all[train_rows])
        self.x_mean_, self.x_scale_ = x_scaler.mean.cpu().numpy(), x_scaler.scale.cpu().numpy()
        z_all = x_scaler.transform(x_all)
        t_all = torch.as_tensor(targets, device=device)
        w_all = None if weights is None else torch.as_tensor(weights, dtype=torch.float32, device=device)
        tr, va = torch.as_tensor(train_rows, device=device), torch.as_tensor(val_rows, device=device)
        train = (z_all[tr], t_all[tr], None if w_all is None else w_all[tr])
        val = (z_all[va], t_all[va], None if w_all is None else w_all[va]) if self.early_stopping else None

        self.grid_ = self._grid(len(train_rows))
        fits = [self._train_one(hidden, train, val, model_seed, batch_seed, device)
                for hidden in self._hidden_candidates()]
        choice = 0
        if val is not None and len(fits) > 1:
            per_row = []
            for fit in fits:
                fit[0].eval()
                with torch.no_grad():
                    per_row.append(self._loss(fit[0](val[0]), val[1]))
            choice = one_se_choice(per_row, val[2])
        model, result, best_val, hidden = fits[choice]
        self.candidate_losses_ = {f[3]: f[2] for f in fits} if val is not None else None
        self.hidden_layer_sizes_ = hidden
        self.model_ = model
        # predictions in float64: a row's output then does not depend on the rows batched with it
        self.model_.to(torch.float64)
        self.loss_curve_ = list(result.loss_curve)
        self.validation_loss_curve_ = list(result.monitor_curve) if val is not None else None
        self.best_validation_loss_ = best_val if val is not None else None
        self.n_iter_ = result.n_iter
        self.best_iter_ = result.best_step
        self.train_seconds_ = sum(f[1].seconds for f in fits)
        return self

    def _train_one(self, hidden: Tuple[int, ...], train: Tuple[torch.Tensor, torch.Tensor, Optional[torch.Tensor]],
                   val: Optional[Tuple[torch.Tensor, torch.Tensor, Optional[torch.Tensor]]], model_seed: int,
                   batch_seed: int, device: torch.device) -> Tuple[KAN, TrainResult, float, Tuple[int, ...]]:
        """Build the KAN ``[d, *hidden, n_out]`` and train it on ``train = (z, targets, weights)``,
        early-stopping on ``val`` when given. Returns the model (at its best validation epoch),
        the loop's result, the best validation loss (inf without ``val``) and ``hidden``."""
        z_tr, t_tr, w_tr = train
        width = [z_tr.shape[1], *hidden, self._n_outputs(t_tr)]
        model = KAN(width, grid=self.grid_, k=int(self.k), seed=model_seed, device=device)
        lamb = float(self.lamb)
        alpha = 0.5 * float(self.alpha) / z_tr.shape[0]

        def data_loss(out: torch.Tensor, yb: torch.Tensor, wb: Optional[torch.Tensor]) -> torch.Tensor:
            per_row = self._loss(out, yb)
            return per_row.mean() if wb is None else (per_row * wb).sum() / wb.sum()

        def loss_fn(m: KAN, xb: torch.Tensor, yb: torch.Tensor, wb: Optional[torch.Tensor]) -> torch.Tensor:
            if lamb > 0:
                out, acts = m.forward_with_activations(xb)
                reg = lamb * regularizer(acts, m.layers)
            else:
                out, reg = m(xb), 0.0
            if alpha > 0:
                reg = reg + alpha * l2_penalty(m)
            return data_loss(out, yb, wb) + reg

        before_step = grid_update_hook(model, z_tr) if self.update_grid else None
        monitor: Optional[Callable[[], float]] = None
        if val is not None:  # the data loss alone: the penalties are not what generalisation is judged by
            z_va, t_va, w_va = val
            monitor = lambda: float(data_loss(model(z_va), t_va, w_va))  # noqa: E731
        batch = None if self.batch_size is None or self.opt == "LBFGS" else int(self.batch_size)
        lr = self.lr if self.lr is not None else default_lr(self.opt)
        result = train_module(
            model, z_tr, t_tr, loss_fn, weights=w_tr, opt=self.opt, lr=float(lr), steps=int(self.max_iter),
            batch_size=batch, seed=batch_seed, monitor=monitor,
            n_iter_no_change=self.n_iter_no_change, tol=float(self.tol), restore_best=val is not None,
            before_step=before_step, verbose=int(self.verbose),
        )
        best_val = min(result.monitor_curve) if result.monitor_curve else math.inf
        return model, result, best_val, hidden

    def _forward(self, X: Any) -> torch.Tensor:
        """Validated ``X`` ``(n, n_features_in_)`` -> raw KAN outputs ``(n, n_out)`` (no grad, on CPU)."""
        check_is_fitted(self)
        X = validate_data(self, X, reset=False, dtype=np.float64)
        device = next(self.model_.parameters()).device
        x = torch.tensor(np.asarray(X, dtype=np.float64), device=device)
        mean = torch.as_tensor(self.x_mean_, device=device)
        scale = torch.as_tensor(self.x_scale_, device=device)
        outs = []
        self.model_.eval()
        with torch.no_grad():
            for start in range(0, x.shape[0], _PREDICT_CHUNK):
                outs.append(self.model_((x[start: start + _PREDICT_CHUNK] - mean) / scale).cpu())
        return torch.cat(outs)

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = False
        return tags


_PARAMS_DOC = """
    Args (the defaults and why: see the module docstring, ``help(kanlab.estimators)``):
        hidden_layer_sizes: widths of the hidden KAN layers, e.g. ``(8,)`` gives the KAN
            ``[n_features, 8, n_outputs]``; ``()`` a single KAN layer (an additive model).
            "auto" (default): ``()``, unless ``(16,)`` has a validation loss lower by more than
            one standard error (:func:`one_se_choice`; ``(16,)`` without early stopping);
            ``hidden_layer_sizes_`` tells which.
        grid: grid intervals per edge, or "auto" (default): ``round(n_train ** (1/5) / 1.5)``
            in ``[3, 10]`` (3 below 3,989 training rows; :func:`auto_grid`). k: spline order.
        opt: "Adam" (default), "AdamW" or "LBFGS" (full batch, kanlab's strong-Wolfe L-BFGS with
            20 inner iterations per step, as pykan: each step is then too big a move for early
            stopping to be fine-grained).
        max_iter: optimiser steps (LBFGS: outer steps; Adam: mini-batch steps; at most, with
            early stopping).
        lr: learning rate; None means 0.01 for Adam/AdamW and 1.0 for LBFGS.
        batch_size: rows per Adam step; None (default) is full batch (LBFGS is always full batch).
        alpha: L2 penalty ``alpha / (2 n_train) * sum(w ** 2)`` on the effective edge weights
            (:func:`l2_penalty`), scikit-learn's MLP convention; default 0.1.
        lamb: weight of the KAN sparsity regulariser (L1 + entropy of the edge activations), for
            pruning and interpretation; 0 by default.
        update_grid: adapt the spline grids to the (standardised) training inputs 10 times in the
            first 50 steps, pykan's default schedule.
        early_stopping: (default True) hold out ``validation_fraction`` of the training rows
            (stratified for the classifier when every class has 2 rows), evaluate the validation
            loss without the penalties (MSE on standardised targets; log-loss) after every
            step, stop when at the end of ``n_iter_no_change`` epochs in a row it has not
            improved by ``tol``, and keep the weights of the best epoch's end (full batch: every
            step is an epoch). The final model is trained on the other rows only.
        validation_fraction: the held-out share for early stopping (default 0.2: on a few hundred
            rows a tenth is too few to judge an epoch by).
        n_iter_no_change: patience in epochs (default 30); without early stopping the training
            loss is watched the same way. None: always run ``max_iter`` steps.
        tol: minimal improvement of the watched loss.
        random_state: None, an int or a ``numpy.random.RandomState``; fixes the initialisation,
            the mini-batch order and the validation split (the same int gives the same model).
        device: torch device for training and prediction ("cpu" when None).
        verbose: print the training loss every ``verbose`` steps (0: silent).

    ``fit(X, y, sample_weight=None)``: the loss is the weighted mean of the per-row losses (the
    validation loss too). Rows of weight 0 are dropped first; the input scaling and the grids use
    the remaining rows unweighted, so integer weights are close to, not exactly, repeated rows.

    Attributes:
        model_: the trained :class:`kanlab.KAN` (it sees standardised inputs; trained in float32,
            stored in float64 so that predictions do not depend on batch composition).
        hidden_layer_sizes_, grid_: the architecture used (what "auto" resolved to).
        candidate_losses_: ``{hidden_layer_sizes: best validation loss}`` of each architecture
            tried (one entry unless "auto"); None without early stopping.
        n_features_in_, feature_names_in_ (only when fitted on a DataFrame with string column names).
        x_mean_, x_scale_: ``(n_features_in_,)`` the input standardisation.
        loss_curve_: training loss per step (before its update, penalties included);
            validation_loss_curve_: validation loss per step with early stopping (else None);
            best_validation_loss_: its minimum (else None). n_iter_: steps run; best_iter_: the
            step whose weights are kept. train_seconds_: training wall time (all candidates).
"""


def one_se_choice(per_row: Sequence[torch.Tensor], weights: Optional[torch.Tensor] = None) -> int:
    """The one-standard-error rule of Breiman et al.'s CART: among candidate models ordered
    simplest first, given their per-row validation losses ``per_row[i]`` ``(n_val,)`` (and
    optional row weights ``(n_val,)``), the index of the simplest whose mean loss is at most the
    lowest mean loss plus its standard error (the SE of the best model's weighted mean loss over
    the rows). A more flexible model must beat a simpler one by more than the validation split's
    own noise: on a few dozen rows the raw minimum picks the flexible model by chance, and it
    then loses on unseen rows."""
    losses = [p.double().reshape(-1) for p in per_row]
    w = torch.ones_like(losses[0]) if weights is None else weights.to(losses[0])
    w = w / w.sum()
    means = [float((w * p).sum()) for p in losses]
    best = min(range(len(losses)), key=means.__getitem__)
    n = int((w > 0).sum())
    se = math.sqrt(float((w ** 2 * (losses[best] - means[best]) ** 2).sum()) * n / max(n - 1, 1))
    return next(i for i in range(best + 1) if means[i] <= means[best] + se)


def _check_sample_weight(sample_weight: Any, n: int) -> Optional[np.ndarray]:
    """None, or finite non-negative weights ``(n,)`` with a positive sum."""
    if sample_weight is None:
        return None
    w = np.asarray(sample_weight, dtype=np.float64)
    if w.ndim == 0:
        w = np.full(n, float(w))
    if w.shape != (n,):
        raise ValueError(f"sample_weight must have shape ({n},) like the rows of X, got {w.shape}")
    if not np.all(np.isfinite(w)) or np.any(w < 0) or not w.sum() > 0:
        raise ValueError("sample_weight must be finite and non-negative, and not all weights may be zero")
    return w


def _drop_zero_weight(X: np.ndarray, y: np.ndarray,
                      w: Optional[np.ndarray]) -> Tuple[np.ndarray, np.ndarray, Optional[np.ndarray]]:
    """Remove rows of weight 0 (so they change nothing, not even the scaling or the grids) and
    turn equal weights into None (the weighted mean of the loss is then the plain mean)."""
    if w is None:
        return X, y, None
    keep = w > 0
    X, y, w = X[keep], y[keep], w[keep]
    return X, y, None if np.all(w == w[0]) else w.astype(np.float32)


class KANRegressor(RegressorMixin, _KANEstimator):
    """A KAN regressor (mean squared error on standardised targets; multi-output supported).

    ``fit(X (n, d), y (n,) or (n, n_outputs))``; ``predict(X)`` returns ``(n,)`` for a single
    output and ``(n, n_outputs)`` otherwise; ``score`` is R^2.
    """

    __doc__ = (__doc__ or "") + _PARAMS_DOC + """        y_mean_, y_scale_: ``(n_outputs_,)`` the target standardisation. n_outputs_.
"""

    def __init__(self, hidden_layer_sizes: Any = "auto", grid: Any = "auto", k: int = 3, opt: str = "Adam",
                 max_iter: int = 1000, lr: Optional[float] = None, batch_size: Optional[int] = None,
                 alpha: float = 0.1, lamb: float = 0.0, update_grid: bool = True, early_stopping: bool = True,
                 validation_fraction: float = 0.2, n_iter_no_change: Optional[int] = 30, tol: float = 1e-4,
                 random_state: Any = None, device: Optional[str] = None, verbose: int = 0) -> None:
        self.hidden_layer_sizes = hidden_layer_sizes
        self.grid = grid
        self.k = k
        self.opt = opt
        self.max_iter = max_iter
        self.lr = lr
        self.batch_size = batch_size
        self.alpha = alpha
        self.lamb = lamb
        self.update_grid = update_grid
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.n_iter_no_change = n_iter_no_change
        self.tol = tol
        self.random_state = random_state
        self.device = device
        self.verbose = verbose

    def _n_outputs(self, y: np.ndarray) -> int:
        return y.shape[1]

    def _loss(self, out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return ((out - y) ** 2).mean(1)

    def fit(self, X: Any, y: Any, sample_weight: Any = None) -> "KANRegressor":
        """Fit on ``X`` ``(n_samples, n_features)`` and ``y`` ``(n_samples,)`` or
        ``(n_samples, n_outputs)``; ``sample_weight`` ``(n_samples,)`` weighs each row's squared
        error (see the class doc). NaN/Inf in either is rejected. Returns ``self``."""
        self._check_params()
        X, y = validate_data(self, X, y, multi_output=True, y_numeric=True, dtype=np.float64)
        weights = _check_sample_weight(sample_weight, len(X))
        X, y, weights = _drop_zero_weight(X, y, weights)
        y2 = y.reshape(len(y), -1).astype(np.float64)
        self.n_outputs_ = y2.shape[1]
        y_scaler = Standardizer(torch.as_tensor(y2))
        self.y_mean_, self.y_scale_ = y_scaler.mean.numpy(), y_scaler.scale.numpy()
        targets = y_scaler.transform(torch.as_tensor(y2)).float().numpy()
        return self._fit(X, targets, weights, None)

    def predict(self, X: Any) -> np.ndarray:
        """``(n_samples, n_features) -> (n_samples,)`` or ``(n_samples, n_outputs)``."""
        out = self._forward(X).numpy() * self.y_scale_ + self.y_mean_
        return out.ravel() if self.n_outputs_ == 1 else out

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        return tags


class KANClassifier(ClassifierMixin, _KANEstimator):
    """A KAN classifier: binary (one logit, logistic loss) or multi-class (one logit per class,
    cross-entropy). Labels may be any sortable values (ints, strings); ``classes_`` holds them.
    """

    __doc__ = (__doc__ or "") + _PARAMS_DOC.replace("        random_state:", """        class_weight: None, "balanced" or a dict ``{label: weight}``: per-class weights of the
            loss (training and validation).
        random_state:""") + """        classes_: the sorted labels ``(n_classes,)``.
"""

    def __init__(self, hidden_layer_sizes: Any = "auto", grid: Any = "auto", k: int = 3, opt: str = "Adam",
                 max_iter: int = 1000, lr: Optional[float] = None, batch_size: Optional[int] = None,
                 alpha: float = 0.1, lamb: float = 0.0, update_grid: bool = True, early_stopping: bool = True,
                 validation_fraction: float = 0.2, n_iter_no_change: Optional[int] = 30, tol: float = 1e-4,
                 class_weight: Optional[Any] = None, random_state: Any = None, device: Optional[str] = None,
                 verbose: int = 0) -> None:
        self.hidden_layer_sizes = hidden_layer_sizes
        self.grid = grid
        self.k = k
        self.opt = opt
        self.max_iter = max_iter
        self.lr = lr
        self.batch_size = batch_size
        self.alpha = alpha
        self.lamb = lamb
        self.update_grid = update_grid
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.n_iter_no_change = n_iter_no_change
        self.tol = tol
        self.class_weight = class_weight
        self.random_state = random_state
        self.device = device
        self.verbose = verbose

    def _n_outputs(self, y: np.ndarray) -> int:
        return 1 if len(self.classes_) == 2 else len(self.classes_)

    def _loss(self, out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        if out.shape[1] == 1:
            return torch.nn.functional.binary_cross_entropy_with_logits(out[:, 0], y.to(out.dtype), reduction="none")
        return torch.nn.functional.cross_entropy(out, y, reduction="none")

    def fit(self, X: Any, y: Any, sample_weight: Any = None) -> "KANClassifier":
        """Fit on ``X`` ``(n_samples, n_features)`` and labels ``y`` ``(n_samples,)`` (at least two
        classes); ``sample_weight`` ``(n_samples,)`` multiplies the class weights (see the class
        doc). NaN/Inf in ``X`` is rejected. Returns ``self``."""
        self._check_params()
        X, y = validate_data(self, X, y, dtype=np.float64)
        check_classification_targets(y)
        self.classes_, encoded = np.unique(y, return_inverse=True)
        if len(self.classes_) < 2:
            raise ValueError(f"KANClassifier needs samples of at least 2 classes in y, got one class: "
                             f"{self.classes_[0]!r}")
        if self.class_weight is not None and not (self.class_weight == "balanced" or isinstance(self.class_weight, dict)):
            raise ValueError(f"class_weight must be None, 'balanced' or a dict {{label: weight}}, got {self.class_weight!r}")
        weights = _check_sample_weight(sample_weight, len(X))
        if self.class_weight is not None:
            weights = compute_sample_weight(self.class_weight, y) * (1.0 if weights is None else weights)
        X, encoded, weights = _drop_zero_weight(X, encoded, weights)
        return self._fit(X, encoded.astype(np.int64), weights, encoded)

    def decision_function(self, X: Any) -> np.ndarray:
        """Logits: ``(n_samples,)`` for two classes (positive favours ``classes_[1]``), else
        ``(n_samples, n_classes)``."""
        out = self._forward(X).numpy()
        return out[:, 0] if out.shape[1] == 1 else out

    def predict_proba(self, X: Any) -> np.ndarray:
        """``(n_samples, n_features) -> (n_samples, n_classes)`` class probabilities (rows sum to 1)."""
        out = self._forward(X)
        if out.shape[1] == 1:
            p = torch.sigmoid(out)
            return torch.cat([1 - p, p], dim=1).numpy()
        return torch.softmax(out, dim=1).numpy()

    def predict_log_proba(self, X: Any) -> np.ndarray:
        """``log(predict_proba(X))``, computed from the logits (finite even where a probability
        rounds to 0)."""
        out = self._forward(X)
        if out.shape[1] == 1:
            return torch.nn.functional.logsigmoid(torch.cat([-out, out], dim=1)).numpy()
        return torch.log_softmax(out, dim=1).numpy()

    def predict(self, X: Any) -> np.ndarray:
        """``(n_samples, n_features) -> (n_samples,)`` labels from ``classes_``."""
        out = self._forward(X)
        idx = (out[:, 0] > 0).long() if out.shape[1] == 1 else out.argmax(1)
        return self.classes_[idx.numpy()]
