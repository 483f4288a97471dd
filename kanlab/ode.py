"""KAN-ODE: learn an autonomous vector field ``dx/dt = f(x)`` from observed trajectories.

The pieces:

* :func:`rk4_step` / :func:`odeint_rk4`: classical fixed-step Runge-Kutta 4, batched over initial
  conditions, differentiable (plain torch operations, so gradients reach ``f``'s parameters and
  the initial states), on the device and dtype of the states given (nothing is created elsewhere).
  Time grids may be shared ``(T,)`` or per row ``(batch, T)``; every interval between two output
  times is cut into ``substeps`` equal RK4 steps.
* :func:`lotka_volterra` and :func:`simulate`: the predator-prey field and noisy observations of
  its trajectories (a seeded private generator; torch's global RNG is untouched).
* :func:`trajectory_windows` and :func:`fit_ode`: *windowed shooting*. Every observed state
  ``x(t_i)`` starts a short integration of the model's field over the next ``window`` observation
  times; the loss is the mean squared error against the observed states there, per dimension
  divided by the data's variance. Short windows keep the problem well conditioned (errors cannot
  grow along a whole orbit) and use every observation as a start. Training runs in kanlab's one
  loop (:func:`kanlab.loop.train_loop`: LBFGS or Adam, NaN rollback, time budget), with grid
  updates on the observed states (the states the field is evaluated near) on pykan's schedule.
* :func:`recover_symbolic`: the closed form. Every edge of the trained KAN is snapped to a library
  function (``auto_symbolic``; for a KAN with multiplication nodes and ``lib=["x"]`` the model
  becomes a polynomial of degree 2), the constants are fine-tuned on the trajectories, the
  ``symbolic_formula`` is expanded, terms below a share of the field on the data are dropped and
  the rest refitted (:func:`refit_terms`, SINDy's thresholding with the KAN's formula as the
  candidate terms).

Shapes: states are ``(batch, dim)``; trajectories ``(n_traj, T, dim)`` with times ``(T,)``.
"""
from __future__ import annotations

import math
import time
import warnings
from dataclasses import dataclass, field
from typing import Callable, Dict, List, Optional, Sequence, Tuple, Union

import torch
from torch import nn

from .loop import TrainResult, train_loop
from .network import KANNetwork
from .train import grid_update_hook, grid_update_steps
from .validation import check_int, check_optional_int, check_optional_real, check_real

__all__ = [
    "VectorField", "rk4_step", "odeint_rk4", "lotka_volterra", "simulate", "trajectory_windows",
    "ODEFitResult", "fit_ode", "trajectory_error", "PolynomialField", "polynomial_terms",
    "term_contributions", "refit_terms", "SymbolicRecovery", "recover_symbolic",
]

#: ``f(x)``: states ``(batch, dim)`` -> time derivatives ``(batch, dim)`` (autonomous).
VectorField = Callable[[torch.Tensor], torch.Tensor]


# ---------------------------------------------------------------------- integration
def rk4_step(f: VectorField, x: torch.Tensor, h: Union[float, torch.Tensor]) -> torch.Tensor:
    """One classical Runge-Kutta 4 step of ``dx/dt = f(x)`` from ``x`` ``(batch, dim)`` with step
    ``h`` (a number, or a tensor ``(batch, 1)`` of per-row steps). Returns ``(batch, dim)``;
    local error O(h^5), global O(h^4)."""
    k1 = f(x)
    k2 = f(x + (0.5 * h) * k1)
    k3 = f(x + (0.5 * h) * k2)
    k4 = f(x + h * k3)
    return x + (h / 6.0) * (k1 + 2.0 * k2 + 2.0 * k3 + k4)


def _check_states(name: str, x: torch.Tensor) -> None:
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(x).__name__}")
    if x.ndim != 2 or x.shape[0] == 0 or x.shape[1] == 0:
        raise ValueError(f"{name} must have shape (batch, dim) with batch, dim >= 1, got {tuple(x.shape)}")
    if not x.is_floating_point():
        raise TypeError(f"{name} must be a floating point tensor, got {x.dtype}")
    if not bool(torch.isfinite(x).all()):
        raise ValueError(f"{name} contains NaN or Inf")


def _check_times(t: torch.Tensor, batch: int) -> torch.Tensor:
    """``t`` as ``(batch, T)`` (a view for shared times), checked strictly increasing and finite."""
    if not isinstance(t, torch.Tensor):
        raise TypeError(f"t must be a torch.Tensor of times, got {type(t).__name__}")
    if t.ndim == 1:
        t = t.unsqueeze(0).expand(batch, -1)
    elif t.ndim != 2 or t.shape[0] != batch:
        raise ValueError(f"t must have shape (T,) or (batch, T) with batch = {batch}, got {tuple(t.shape)}")
    if t.shape[1] < 1:
        raise ValueError("t must hold at least one time")
    if not bool(torch.isfinite(t).all()):
        raise ValueError("t contains NaN or Inf")
    if t.shape[1] > 1 and not bool((t[:, 1:] > t[:, :-1]).all()):
        raise ValueError("t must be strictly increasing along its last dimension")
    return t


def odeint_rk4(f: VectorField, x0: torch.Tensor, t: torch.Tensor, substeps: int = 1) -> torch.Tensor:
    """Integrate ``dx/dt = f(x)`` from ``x0`` ``(batch, dim)`` at time ``t[..., 0]`` and return the
    states at every time of ``t``: ``(batch, T, dim)``, with ``[:, 0] == x0``.

    ``t``: ``(T,)`` shared by every row, or ``(batch, T)`` per row (each row's own grid; the steps
    are per-row tensors, so rows still integrate together). Each interval ``[t_i, t_{i+1}]`` takes
    ``substeps`` RK4 steps of ``(t_{i+1} - t_i) / substeps``. Differentiable with respect to
    ``x0`` and ``f``'s parameters; ``t`` is converted to ``x0``'s device and dtype.
    """
    _check_states("x0", x0)
    substeps = check_int("substeps", substeps, low=1)
    t = _check_times(t.to(device=x0.device, dtype=x0.dtype), x0.shape[0])
    states = [x0]
    x = x0
    for i in range(t.shape[1] - 1):
        h = ((t[:, i + 1] - t[:, i]) / substeps).unsqueeze(1)  # (batch, 1)
        for _ in range(substeps):
            x = rk4_step(f, x, h)
        states.append(x)
    return torch.stack(states, dim=1)


# ---------------------------------------------------------------------- Lotka-Volterra data
def lotka_volterra(alpha: float = 1.5, beta: float = 1.0, delta: float = 1.0, gamma: float = 3.0) -> VectorField:
    """The predator-prey field ``dx/dt = alpha x - beta x y``, ``dy/dt = delta x y - gamma y``
    (``x`` prey, ``y`` predators) as a function ``(batch, 2) -> (batch, 2)``."""
    for name, v in (("alpha", alpha), ("beta", beta), ("delta", delta), ("gamma", gamma)):
        check_real(name, v)

    def field_(s: torch.Tensor) -> torch.Tensor:
        x, y = s[..., 0], s[..., 1]
        return torch.stack([alpha * x - beta * x * y, delta * x * y - gamma * y], dim=-1)

    return field_


def simulate(f: VectorField, x0: torch.Tensor, t: torch.Tensor, *, substeps: int = 20, noise: float = 0.0,
             relative: bool = True, seed: int = 0) -> Tuple[torch.Tensor, torch.Tensor]:
    """Trajectories of ``dx/dt = f(x)`` from ``x0`` ``(n_traj, dim)`` at times ``t`` ``(T,)``,
    integrated by :func:`odeint_rk4` with ``substeps`` steps per interval, without gradients.

    Returns ``(clean, observed)``, both ``(n_traj, T, dim)``: ``observed = clean + noise``, Gaussian
    with standard deviation ``noise`` times each dimension's standard deviation over the data
    (``relative=True``) or ``noise`` itself (``relative=False``), drawn from a private CPU generator
    seeded with ``seed`` (then moved to ``x0``'s device), so the same seed gives the same noise on
    every device.
    """
    noise = check_real("noise", noise, low=0)
    if t.ndim != 1:
        raise ValueError(f"t must have shape (T,), got {tuple(t.shape)}")
    with torch.no_grad():
        clean = odeint_rk4(f, x0, t, substeps=substeps)
    if not bool(torch.isfinite(clean).all()):
        raise ValueError("the trajectories blew up (NaN/Inf): use a shorter t, more substeps or other x0")
    if noise == 0:
        return clean, clean.clone()
    gen = torch.Generator(device="cpu").manual_seed(int(seed))
    eps = torch.randn(clean.shape, generator=gen, dtype=torch.float64).to(device=clean.device, dtype=clean.dtype)
    scale = clean.reshape(-1, clean.shape[-1]).std(dim=0) if relative else torch.ones_like(clean[0, 0])
    return clean, clean + noise * scale * eps


# ---------------------------------------------------------------------- training
def _check_trajectories(t: torch.Tensor, traj: torch.Tensor) -> None:
    if not isinstance(traj, torch.Tensor) or not isinstance(t, torch.Tensor):
        raise TypeError("t and trajectories must be torch.Tensors")
    if traj.ndim == 2:
        raise ValueError(f"trajectories must have shape (n_traj, T, dim), got {tuple(traj.shape)}; "
                         "for a single trajectory pass trajectories.unsqueeze(0)")
    if traj.ndim != 3 or 0 in traj.shape:
        raise ValueError(f"trajectories must have shape (n_traj, T, dim) with no empty dimension, got {tuple(traj.shape)}")
    if not traj.is_floating_point():
        raise TypeError(f"trajectories must be floating point, got {traj.dtype}")
    if not bool(torch.isfinite(traj).all()):
        raise ValueError("trajectories contain NaN or Inf: drop or interpolate those observations first")
    if t.ndim != 1 or t.shape[0] != traj.shape[1]:
        raise ValueError(f"t must have shape (T,) = ({traj.shape[1]},) to match trajectories {tuple(traj.shape)}, "
                         f"got {tuple(t.shape)}")
    _check_times(t, 1)


def trajectory_windows(t: torch.Tensor, traj: torch.Tensor, window: int) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Every window of ``window + 1`` consecutive observations of every trajectory.

    Args:
        t: times ``(T,)``; traj: observations ``(n_traj, T, dim)``; window: observation steps
            integrated from each start (``1 <= window < T``).

    Returns ``(starts, times, targets)``: ``(N, dim)``, ``(N, window + 1)`` (times relative to the
    start, so ``times[:, 0] == 0``), ``(N, window, dim)``, with ``N = n_traj * (T - window)``.
    """
    _check_trajectories(t, traj)
    n_traj, T, dim = traj.shape
    window = check_int("window", window, low=1)
    if window >= T:
        raise ValueError(f"window must be below the number of observation times T = {T}, got {window}")
    idx = torch.arange(T - window, device=traj.device).unsqueeze(1) + torch.arange(window + 1, device=traj.device)
    seg = traj[:, idx]  # (n_traj, T - window, window + 1, dim)
    tt = t.to(device=traj.device, dtype=traj.dtype)[idx]  # (T - window, window + 1)
    times = (tt - tt[:, :1]).unsqueeze(0).expand(n_traj, -1, -1)
    seg = seg.reshape(-1, window + 1, dim)
    return seg[:, 0], times.reshape(-1, window + 1), seg[:, 1:]


@dataclass
class ODEFitResult:
    """What :func:`fit_ode` did: ``loss`` per step (the scaled window MSE before the step, on the
    step's batch), ``seconds`` of training, ``n_iter`` steps, ``stop_reason`` (see
    :class:`kanlab.loop.TrainResult`), ``scale`` ``(dim,)`` the per-dimension standard deviation
    the errors were divided by."""

    loss: List[float] = field(default_factory=list)
    seconds: float = 0.0
    n_iter: int = 0
    stop_reason: str = "steps"
    scale: Optional[torch.Tensor] = None


def fit_ode(
    model: nn.Module,
    t: torch.Tensor,
    trajectories: torch.Tensor,
    *,
    window: int = 4,
    substeps: int = 1,
    opt: str = "LBFGS",
    steps: int = 50,
    lr: Optional[float] = None,
    batch_size: Optional[int] = None,
    seconds: Optional[float] = None,
    update_grid: bool = True,
    grid_update_num: int = 5,
    stop_grid_update_step: int = 30,
    lamb: float = 0.0,
    seed: int = 0,
    log: Optional[int] = None,
    progress: Optional[bool] = None,
) -> ODEFitResult:
    """Fit ``model`` (a function ``(batch, dim) -> (batch, dim)``, e.g. a ``KAN([dim, ..., dim])``)
    as the vector field of observed trajectories by windowed shooting.

    Every observation ``trajectories[:, i]`` starts an RK4 integration (:func:`odeint_rk4`, ``substeps``
    steps per observation interval) over the next ``window`` observation times; the loss is the
    mean over windows, times and dimensions of ``((predicted - observed) / scale) ** 2`` with
    ``scale`` each dimension's standard deviation over the data.

    Args:
        t: observation times ``(T,)``, strictly increasing (need not be uniform).
        trajectories: observed states ``(n_traj, T, dim)``, finite.
        opt, lr, steps, seconds, batch_size, seed: the optimiser and budget of
            :func:`kanlab.loop.train_loop` ("LBFGS" (default, lr 1) or "Adam"/"AdamW" (lr 1e-2));
            ``batch_size`` windows per step (None: all), drawn with ``seed``.
        update_grid: for a KAN, adapt the grids to the observed states ``grid_update_num`` times in
            the first ``stop_grid_update_step`` steps (pykan's schedule, :func:`kanlab.train.grid_update_steps`).
        lamb: weight of a KAN's sparsity regulariser (the model's ``reg()`` on the observed
            states, as ``fit(lamb=...)``); 0: none.
        log: print ``step, loss`` every ``log`` steps (and the last); None: silent. ``progress``:
            the loop's tqdm bar (None: only on a terminal).

    Returns an :class:`ODEFitResult`. ``ValueError`` for bad shapes, NaN/Inf or empty data.
    """
    _check_trajectories(t, trajectories)
    check_int("steps", steps, low=0)
    check_optional_int("log", log, low=1, note="silent")
    lamb = check_real("lamb", lamb, low=0)
    check_optional_real("seconds", seconds, low=0)
    starts, times, targets = trajectory_windows(t, trajectories, window)
    states = trajectories.reshape(-1, trajectories.shape[-1])
    scale = states.std(dim=0) if states.shape[0] > 1 else torch.ones_like(states[0])
    if not bool((scale > 0).all()):
        raise ValueError("a dimension of the trajectories is constant; nothing to learn from it")
    dim = trajectories.shape[-1]
    probe = model(starts[:2])
    if not isinstance(probe, torch.Tensor) or probe.shape != starts[:2].shape:
        raise ValueError(f"model must map (batch, {dim}) states to (batch, {dim}) derivatives, got "
                         f"{tuple(getattr(probe, 'shape', ()))} for input {tuple(starts[:2].shape)}")
    reg_fn = _regulariser(model, states, lamb)
    # a trial step (LBFGS's line search, a large Adam step) can make the field explode within a
    # window; states are kept inside a box of 10x the data's span so the loss stays finite and
    # large (the line search backs off) instead of NaN inputs stopping training
    lo, hi = states.amin(dim=0), states.amax(dim=0)
    box_lo, box_hi = lo - 10 * (hi - lo), hi + 10 * (hi - lo)

    def bounded(x: torch.Tensor) -> torch.Tensor:
        return model(torch.nan_to_num(x).clamp(box_lo, box_hi))

    def objective(x0: torch.Tensor, tt: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        pred = odeint_rk4(bounded, x0, tt, substeps=substeps)[:, 1:]
        loss = (((pred - target) / scale) ** 2).mean()
        return loss + reg_fn() if reg_fn is not None else loss

    hooks = []
    if update_grid and isinstance(model, KANNetwork) and grid_update_num > 0 and steps > 0:
        plan = grid_update_steps(grid_update_num, stop=min(stop_grid_update_step, steps))
        hooks.append(grid_update_hook(model, set(plan), x=states))
    out = ODEFitResult(scale=scale)
    clock = time.perf_counter()

    def on_step(res: TrainResult) -> None:
        if log is not None and (res.n_iter % log == 0 or res.n_iter == steps or res.n_iter == 1):
            print(f"  fit_ode step {res.n_iter:4d}/{steps}  loss {res.loss_curve[-1]:.3e}  "
                  f"({time.perf_counter() - clock:.1f} s)", flush=True)

    res = train_loop(model, objective, (starts, times, targets), opt=opt, lr=lr, steps=steps, seconds=seconds,
                     batch_size=batch_size, seed=seed, before_step=hooks, on_step=on_step, progress=progress,
                     desc="fit_ode")
    if isinstance(model, KANNetwork):
        model.remember_data(states)  # attribution, auto_symbolic and plots default to these states
        model.fresh = False
    out.loss, out.seconds, out.n_iter, out.stop_reason = res.loss_curve, res.seconds, res.n_iter, res.stop_reason
    return out


def _regulariser(model: nn.Module, states: torch.Tensor, lamb: float) -> Optional[Callable[[], torch.Tensor]]:
    """``lamb * model.reg(...)`` on the observed states, or None when ``lamb == 0``."""
    if lamb == 0:
        return None
    if not isinstance(model, KANNetwork):
        raise ValueError("lamb > 0 needs a KAN (its sparsity regulariser); use lamb=0 for other models")
    from .regularizers import forward_with_reg

    def reg() -> torch.Tensor:
        _, penalty = forward_with_reg(model, states)
        return lamb * penalty

    return reg


@torch.no_grad()
def trajectory_error(f: VectorField, t: torch.Tensor, reference: torch.Tensor, substeps: int = 4) -> float:
    """Relative L2 error of ``f``'s trajectories against ``reference`` ``(n_traj, T, dim)`` when
    integrated from ``reference[:, 0]`` over all of ``t`` ``(T,)``:
    ``||pred - reference|| / ||reference - mean||``; ``inf`` if the prediction blows up."""
    _check_trajectories(t, reference)

    def guarded(x: torch.Tensor) -> torch.Tensor:  # a diverging field: NaN, not a model's input error
        return f(x) if bool(torch.isfinite(x).all()) else torch.full_like(x, math.nan)

    pred = odeint_rk4(guarded, reference[:, 0], t, substeps=substeps)
    err = float(torch.linalg.vector_norm(pred - reference) /
                torch.linalg.vector_norm(reference - reference.mean(dim=(0, 1))))
    return err if math.isfinite(err) else math.inf


# ---------------------------------------------------------------------- closed form
class PolynomialField(nn.Module):
    """A polynomial vector field with trainable coefficients: output ``k`` is
    ``sum_m coef[k][m] * prod_d x_d ** powers[k][m][d]``. Maps ``(batch, dim) -> (batch, n_out)``.

    Built from monomial exponents, e.g. ``PolynomialField([[(1, 0), (1, 1)], [(1, 1), (0, 1)]],
    [[1.5, -1.0], [1.0, -3.0]])`` is Lotka-Volterra; :func:`refit_terms` uses it to refit the
    constants of the terms a KAN's formula kept.
    """

    def __init__(self, powers: Sequence[Sequence[Sequence[int]]], coefs: Sequence[Sequence[float]],
                 dtype: Optional[torch.dtype] = None, device: Union[str, torch.device, None] = None) -> None:
        super().__init__()
        if len(powers) != len(coefs) or any(len(p) != len(c) for p, c in zip(powers, coefs)):
            raise ValueError("powers and coefs must have one list per output, with one entry per term")
        dims = {len(m) for p in powers for m in p}
        if len(dims) > 1:
            raise ValueError(f"every monomial needs one exponent per input, got lengths {sorted(dims)}")
        self.powers = [torch.tensor([list(m) for m in p], dtype=torch.long, device=device).reshape(len(p), -1)
                       for p in powers]
        self.coefs = nn.ParameterList(nn.Parameter(torch.tensor(list(c), dtype=dtype or torch.get_default_dtype(),
                                                                device=device)) for c in coefs)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        outs = []
        for pw, c in zip(self.powers, self.coefs):
            if pw.shape[0] == 0:
                outs.append(torch.zeros_like(x[:, 0]))
                continue
            mono = torch.prod(x.unsqueeze(1) ** pw.to(x.device), dim=-1)  # (batch, n_terms)
            outs.append(mono @ c)
        return torch.stack(outs, dim=1)


def polynomial_terms(expr, variables: Sequence) -> Dict[Tuple[int, ...], float]:  # type: ignore[no-untyped-def]
    """The coefficients of a sympy expression as a polynomial in ``variables``: ``{exponents:
    coefficient}`` (the expression is expanded first). ``ValueError`` if it is not a polynomial
    with numeric coefficients (e.g. a ``sin`` survived)."""
    import sympy as sp

    try:
        poly = sp.Poly(sp.expand(expr), *variables)
    except sp.PolynomialError as err:
        raise ValueError(f"not a polynomial in {list(variables)}: {expr}") from err
    if any(not c.is_number for c in poly.coeffs()):
        raise ValueError(f"not a polynomial in {list(variables)} with numeric coefficients: {expr}")
    return {tuple(int(p) for p in m): float(c) for m, c in zip(poly.monoms(), poly.coeffs())}


def term_contributions(terms: Dict[Tuple[int, ...], float], states: torch.Tensor) -> Dict[Tuple[int, ...], float]:
    """Each term's share of the polynomial's size on ``states`` ``(n, dim)``: the RMS of
    ``c * monomial`` over the states divided by the RMS of the whole polynomial (a term that
    cancels against another can exceed 1)."""
    x = states.double()
    vals = {m: c * torch.prod(x ** torch.tensor(m, dtype=torch.float64, device=x.device), dim=1) for m, c in terms.items()}
    total = sum(vals.values()) if vals else torch.zeros(1, dtype=torch.float64)
    size = float(torch.sqrt(torch.mean(total ** 2)))  # type: ignore[union-attr]
    return {m: float(torch.sqrt(torch.mean(v ** 2))) / (size or 1.0) for m, v in vals.items()}


def refit_terms(
    formulas: Sequence,
    variables: Sequence,
    t: torch.Tensor,
    trajectories: torch.Tensor,
    *,
    threshold: float = 0.05,
    steps: int = 20,
    rounds: int = 5,
    window: int = 4,
    substeps: int = 1,
    log: Optional[int] = None,
) -> Tuple[List, PolynomialField]:  # type: ignore[type-arg]
    """Keep the terms of polynomial formulas (one sympy expression per output, e.g. a KAN's
    ``symbolic_formula``) whose contribution on the observed states (:func:`term_contributions`)
    is at least ``threshold``, then refit their constants on the trajectories with
    :func:`fit_ode` (``steps`` LBFGS steps on a :class:`PolynomialField`); repeat (at most
    ``rounds`` times) until no kept term falls under ``threshold``. Sequential thresholding as in
    SINDy, with the KAN's formula as the candidate terms and starting constants.

    Returns ``(expressions, field)``: the refitted sympy expressions and the field.
    """
    import sympy as sp

    threshold = check_real("threshold", threshold, low=0, high=1)
    rounds = check_int("rounds", rounds, low=1)
    states = trajectories.reshape(-1, trajectories.shape[-1])
    current = [polynomial_terms(expr, variables) for expr in formulas]
    field_ = None
    for _ in range(rounds):
        kept = []
        for terms in current:
            share = term_contributions(terms, states)
            kept.append({m: c for m, c in terms.items() if share[m] >= threshold})
        if field_ is not None and [set(k) for k in kept] == [set(c) for c in current]:
            break  # nothing more to drop: the last refit stands
        current = kept
        field_ = PolynomialField([list(k) for k in current], [list(k.values()) for k in current],
                                 dtype=trajectories.dtype, device=trajectories.device)
        if steps > 0:
            fit_ode(field_, t, trajectories, window=window, substeps=substeps, steps=steps, log=log, progress=False)
        current = [dict(zip(k, c.detach().cpu().tolist())) for k, c in zip(current, field_.coefs)]
    assert field_ is not None
    exprs = [sum((v * sp.Mul(*[s ** p for s, p in zip(variables, m)]) for m, v in terms.items()), sp.Integer(0))
             for terms in current]
    return exprs, field_


@dataclass
class SymbolicRecovery:
    """What :func:`recover_symbolic` found. ``snapped``: the rows of ``auto_symbolic`` (edge,
    function, R^2); ``kan_formulas``: the fine-tuned symbolic KAN's formulas, expanded (every
    term); ``formulas``: the thresholded and refitted ones; ``field``: the latter as a module;
    ``dropped``: per output, the dropped terms' exponents and their shares of the KAN's
    formula on the data (:func:`term_contributions`); ``seconds``: time taken."""

    snapped: List[Dict[str, object]]
    kan_formulas: List  # type: ignore[type-arg]
    formulas: List  # type: ignore[type-arg]
    field: PolynomialField
    dropped: List[Dict[Tuple[int, ...], float]]
    seconds: float


def recover_symbolic(
    model: KANNetwork,
    t: torch.Tensor,
    trajectories: torch.Tensor,
    var: Optional[Sequence[str]] = None,
    *,
    lib: Sequence[str] = ("x",),
    finetune_steps: int = 20,
    threshold: float = 0.05,
    refit_steps: int = 10,
    window: int = 4,
    substeps: int = 1,
    log: Optional[int] = None,
) -> SymbolicRecovery:
    """The closed form of a KAN trained by :func:`fit_ode`, in place on ``model``.

    1. ``auto_symbolic(lib, r2_threshold=0)`` snaps every active edge (fitted on the observed
       states), so no spline is left to count as 0 in the formula.
    2. ``fit_ode`` fine-tunes the symbolic constants (``finetune_steps`` LBFGS steps, no grid
       updates) on the trajectories.
    3. ``symbolic_formula`` composes them; each output is expanded into a polynomial (``ValueError``
       if the library left a non-polynomial function: use ``lib=["x"]`` with multiplication
       nodes for polynomial fields), and :func:`refit_terms` drops the terms under ``threshold``
       of the field on the data and refits the rest (``refit_steps``).

    Args:
        t, trajectories: ``(T,)`` and ``(n_traj, T, dim)``, as given to :func:`fit_ode`.
        var: names of the state variables (default ``x_1 .. x_dim``).
    """
    import sympy as sp

    from .formula import symbolic_formula
    from .symbolic import auto_symbolic

    _check_trajectories(t, trajectories)
    start = time.perf_counter()
    states = trajectories.reshape(-1, trajectories.shape[-1])
    with warnings.catch_warnings():  # r2_threshold=0 snaps every edge, however poor its fit: no warning
        warnings.simplefilter("ignore", UserWarning)
        snapped = auto_symbolic(model, list(lib), verbose=False, r2_threshold=0.0, x=states)
    if finetune_steps > 0:
        fit_ode(model, t, trajectories, window=window, substeps=substeps, steps=finetune_steps,
                update_grid=False, log=log, progress=False)
    sf = symbolic_formula(model, var=var, ex_round=None, simplify=False, strict=True)
    expanded = [sp.expand(e) for e in sf.formulas]
    formulas, field_ = refit_terms(expanded, sf.variables, t, trajectories, threshold=threshold,
                                   steps=refit_steps, window=window, substeps=substeps)
    dropped = []
    for before, after in zip(expanded, formulas):
        terms = polynomial_terms(before, sf.variables)
        share = term_contributions(terms, states)
        kept = set(polynomial_terms(after, sf.variables))
        dropped.append({m: share[m] for m in terms if m not in kept})
    return SymbolicRecovery(snapped, expanded, formulas, field_, dropped, time.perf_counter() - start)
