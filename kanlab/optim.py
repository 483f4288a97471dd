"""L-BFGS that keeps learning at tiny losses.

``torch.optim.LBFGS`` only updates its curvature memory when ``y·s > 1e-10``, a fixed absolute
threshold. Fitting a KAN to 1e-4 RMSE means losses near 1e-8, where ``y·s`` falls below that
threshold: the memory freezes and the optimiser crawls along stale directions (pykan ships its own
copy of L-BFGS for this reason). This version makes the threshold a parameter (``tolerance_ys``)
and otherwise follows the classic two-loop recursion with torch's strong-Wolfe line search.

When the closure's objective is kanlab's compiled network pass (``fit`` on a plain small network:
the closure carries it as ``closure.program``, see :mod:`kanlab.fused`), a step's iterations run
in C (:func:`kanlab.native.lbfgs`: the same recursion, line search and constants in double
precision, no Python per evaluation); everywhere else, the Python loop below.
"""
from __future__ import annotations

import math
from typing import Callable, List, Optional, Tuple

import torch
from torch.optim import Optimizer
from torch.optim.lbfgs import _strong_wolfe

from . import native
from .validation import check_optional_int, check_positive_int, check_real

__all__ = ["LBFGS"]


class LBFGS(Optimizer):
    """Limited-memory BFGS over all parameters of one group (full-batch optimiser).

    pykan's ``LBFGS`` (``kanlab.LBFGS``): the same arguments with the same meaning, so
    ``LBFGS(model.parameters(), lr=1, history_size=10, line_search_fn="strong_wolfe",
    tolerance_grad=1e-32, tolerance_change=1e-32, tolerance_ys=1e-32)`` runs unchanged.

    Args:
        params: the parameters (one group).
        lr: step length (the line search's first trial step). max_iter: iterations per
            ``step``. max_eval: closure evaluations per ``step`` (default ``max_iter * 5 // 4``).
        tolerance_grad: a ``step`` stops once ``max |grad| <= tolerance_grad``.
        tolerance_change: it stops once the step or the loss changes by at most this.
        tolerance_ys: curvature pairs with ``y·s <= tolerance_ys`` are skipped (torch: a fixed 1e-10).
        history_size: curvature pairs kept.
        line_search_fn: ``"strong_wolfe"`` (default) or ``None`` (fixed steps of ``lr``).

    Defaults differ from pykan's (``history_size=100, line_search_fn=None``): kanlab's
    ``history_size=10`` with the strong-Wolfe line search is what ``fit`` uses; pass pykan's
    values explicitly to get its behaviour. Unlike pykan's, ``step`` does not reseed torch's
    global RNG.
    """

    def __init__(
        self,
        params,
        lr: float = 1.0,
        max_iter: int = 20,
        max_eval: Optional[int] = None,
        tolerance_grad: float = 1e-7,
        tolerance_change: float = 1e-9,
        tolerance_ys: float = 1e-32,
        history_size: int = 10,
        line_search_fn: Optional[str] = "strong_wolfe",
    ) -> None:
        if line_search_fn not in (None, "strong_wolfe"):
            raise ValueError(f"line_search_fn must be None or 'strong_wolfe', got {line_search_fn!r}")
        max_iter = check_positive_int("max_iter", max_iter)
        max_eval = check_optional_int("max_eval", max_eval, low=1, note="None: max_iter * 5 // 4")
        tolerances = {name: check_real(name, value, low=0.0) for name, value in (
            ("tolerance_grad", tolerance_grad), ("tolerance_change", tolerance_change), ("tolerance_ys", tolerance_ys))}
        defaults = dict(lr=check_real("lr", lr, low=0.0, low_inclusive=False), max_iter=max_iter,
                        max_eval=max_iter * 5 // 4 if max_eval is None else max_eval,
                        history_size=check_positive_int("history_size", history_size),
                        line_search_fn=line_search_fn, **tolerances)
        super().__init__(params, defaults)
        if len(self.param_groups) != 1:
            raise ValueError("LBFGS supports a single parameter group")
        self._params: List[torch.Tensor] = self.param_groups[0]["params"]

    # ---------------------------------------------------------------- flat views
    def _flat_grad(self) -> torch.Tensor:
        return torch.cat([
            (p.grad if p.grad is not None else torch.zeros_like(p)).reshape(-1) for p in self._params
        ])

    def _flat_views(self) -> Tuple[Optional[List[torch.Tensor]], List[int]]:
        """Flat views of the (contiguous) parameters and their sizes, rebuilt only when a
        parameter's memory moved (``.to()``, ``.data = ...``); ``None`` views if one is not
        contiguous."""
        key = tuple((p.data_ptr(), p.dtype, p.shape, p.is_contiguous()) for p in self._params)
        if getattr(self, "_views_key", None) != key:
            contiguous = all(p.is_contiguous() for p in self._params)
            self._views = [p.view(-1) for p in self._params] if contiguous else None
            self._sizes = [p.numel() for p in self._params]
            self._views_key = key
        return self._views, self._sizes

    def _add(self, step: float, direction: torch.Tensor) -> None:
        """``params += step * direction`` (flat), as two operations whatever the parameter count
        (a line search does this once per evaluation; per-parameter slicing cost ~5 us each)."""
        views, sizes = self._flat_views()
        parts = direction.split(sizes)
        if views is not None:
            torch._foreach_add_(views, parts, alpha=step)
        else:
            for p, part in zip(self._params, parts):
                p.add_(part.view_as(p), alpha=step)

    def _evaluate(self, closure: Callable, x: List[torch.Tensor], t: float, d: torch.Tensor) -> Tuple[float, torch.Tensor]:
        """Loss and gradient at ``x + t d``; parameters are restored to ``x`` afterwards."""
        self._add(t, d)
        with torch.enable_grad():
            loss = float(closure().detach())
        grad = self._flat_grad()
        torch._foreach_copy_(self._params, x)
        if not (math.isfinite(loss) and bool(torch.isfinite(grad).all())):
            # a finite "too high" value makes the line search back off instead of crashing on NaN
            return self._penalty, torch.zeros_like(grad)
        return loss, grad

    # ---------------------------------------------------------------- step
    @torch.no_grad()
    def step(self, closure: Callable[[], torch.Tensor]) -> torch.Tensor:  # type: ignore[override]
        """Up to ``max_iter`` L-BFGS iterations; ``closure`` re-evaluates and back-propagates."""
        group = self.param_groups[0]
        lr, history_size = group["lr"], group["history_size"]
        tol_grad, tol_change, tol_ys = group["tolerance_grad"], group["tolerance_change"], group["tolerance_ys"]
        state = self.state[self._params[0]]
        state.setdefault("n_iter", 0)
        state.setdefault("func_evals", 0)

        with torch.enable_grad():
            orig_loss = closure()
        loss = float(orig_loss.detach())
        state["loss"] = loss  # the objective at the accepted point, updated below
        evals = 1
        grad = self._flat_grad()
        if not math.isfinite(loss) or grad.abs().max() <= tol_grad:
            return orig_loss
        self._penalty = 2.0 * abs(loss) + 1.0
        program = getattr(closure, "program", None)
        if program is not None and group["line_search_fn"] == "strong_wolfe" and self._native_fits(program):
            self._native_step(program, grad, loss, group, state)
            return orig_loss
        self._from_native(state)

        d, t = state.get("d"), state.get("t")
        dirs, steps, rhos = state.get("dirs", []), state.get("steps", []), state.get("rhos", [])
        h_diag, prev_grad = state.get("h_diag", 1.0), state.get("prev_grad")
        n_iter = 0
        while n_iter < group["max_iter"]:
            n_iter += 1
            state["n_iter"] += 1
            if state["n_iter"] == 1 or d is None or prev_grad is None:
                d, dirs, steps, rhos, h_diag = -grad, [], [], [], 1.0
            else:
                y = grad - prev_grad
                s = d * t
                ys = float(y.dot(s))
                if ys > tol_ys:
                    if len(dirs) == history_size:
                        dirs.pop(0), steps.pop(0), rhos.pop(0)
                    dirs.append(y)
                    steps.append(s)
                    rhos.append(1.0 / ys)
                    yy = float(y.dot(y))
                    h_diag = ys / yy if yy > 0 else h_diag  # y.y can underflow to 0 in float32
                q = -grad
                alphas = []
                for y_i, s_i, rho in zip(reversed(dirs), reversed(steps), reversed(rhos)):
                    alpha = float(s_i.dot(q)) * rho
                    q.add_(y_i, alpha=-alpha)
                    alphas.append(alpha)
                d = q * h_diag
                for (y_i, s_i, rho), alpha in zip(zip(dirs, steps, rhos), reversed(alphas)):
                    beta = float(y_i.dot(d)) * rho
                    d.add_(s_i, alpha=alpha - beta)
            prev_grad = grad.clone()
            prev_loss = loss
            t = min(1.0, 1.0 / float(grad.abs().sum())) * lr if state["n_iter"] == 1 else lr
            gtd = float(grad.dot(d))
            if gtd > -tol_change:  # not a descent direction any more
                break
            if group["line_search_fn"] == "strong_wolfe":
                x0 = [p.detach().clone() for p in self._params]
                loss, grad, t, ls_evals = _strong_wolfe(
                    lambda x, step, direction: self._evaluate(closure, x, step, direction),
                    x0, t, d, loss, grad, gtd,
                )
                self._add(t, d)
                evals += ls_evals
            else:
                self._add(t, d)
                if n_iter != group["max_iter"]:
                    with torch.enable_grad():
                        loss = float(closure().detach())
                    grad = self._flat_grad()
                    evals += 1
            if evals >= group["max_eval"] or grad.abs().max() <= tol_grad:
                break
            if (d * t).abs().max() <= tol_change or abs(loss - prev_loss) < tol_change:
                break

        state["func_evals"] += evals
        state.update(loss=loss, d=d, t=t, dirs=dirs, steps=steps, rhos=rhos, h_diag=h_diag, prev_grad=prev_grad)
        return orig_loss

    # ---------------------------------------------------------------- the compiled step
    def _native_fits(self, program: "native.MSECall") -> bool:
        dtype = torch.float64 if program.double else torch.float32
        return all(p.dtype == dtype and p.device.type == "cpu" and p.is_contiguous() for p in self._params)

    def _native_step(self, program: "native.MSECall", grad: torch.Tensor, loss: float, group: dict,
                     state: dict) -> None:
        """The iterations of :meth:`step` in C (:func:`kanlab.native.lbfgs`) on a closure whose
        objective is the compiled network pass (``closure.program``, set by ``fit``'s training
        loop): the same algorithm and constants, in double precision, with no Python per
        evaluation. Its state is kept in its own form (converted when the Python loop resumes)."""
        n, history = grad.numel(), group["history_size"]
        if "native" not in state:
            state["native"] = self._to_native(state, n, history)
        own = state["native"]
        own["nums"][:] = torch.tensor([loss, own["nums"][1], own["nums"][2], group["lr"], group["tolerance_grad"],
                                        group["tolerance_change"], group["tolerance_ys"], self._penalty],
                                       dtype=torch.float64)
        evals = native.lbfgs(program, self._params, grad.to(torch.float64), own, group["max_iter"], group["max_eval"])
        state["n_iter"] = int(own["ints"][0])
        state["func_evals"] += evals
        state["loss"] = float(own["nums"][0])
        for key in ("d", "t", "dirs", "steps", "rhos", "h_diag", "prev_grad"):
            state.pop(key, None)  # the native state is the current one

    @staticmethod
    def _to_native(state: dict, n: int, history: int) -> dict:
        """The Python loop's state in :func:`kanlab.native.lbfgs`'s form (float64 ring buffers)."""
        f64 = dict(dtype=torch.float64)
        own = {"d": torch.zeros(n, **f64), "prev_grad": torch.zeros(n, **f64), "ys": torch.zeros(history, n, **f64),
               "ss": torch.zeros(history, n, **f64), "rhos": torch.zeros(history, **f64),
               "ints": torch.zeros(4, dtype=torch.int64), "nums": torch.zeros(8, **f64)}
        dirs, steps, rhos = state.get("dirs", []), state.get("steps", []), state.get("rhos", [])
        for j, (y, s, rho) in enumerate(zip(dirs[-history:], steps[-history:], rhos[-history:])):
            own["ys"][j], own["ss"][j], own["rhos"][j] = y, s, rho
        d, prev_grad = state.get("d"), state.get("prev_grad")
        has = d is not None and prev_grad is not None
        if has:
            own["d"][:], own["prev_grad"][:] = d, prev_grad
        own["ints"][:] = torch.tensor([state.get("n_iter", 0), min(len(dirs), history), 0, int(has)])
        own["nums"][1], own["nums"][2] = float(state.get("t") or 0.0), float(state.get("h_diag", 1.0))
        return own

    def _from_native(self, state: dict) -> None:
        """Back to the Python loop's state after compiled steps (the inverse of :meth:`_to_native`)."""
        own = state.pop("native", None)
        if own is None:
            return
        dtype = self._params[0].dtype
        _, pairs, first, has = (int(v) for v in own["ints"])
        order = [(first + j) % own["ys"].shape[0] for j in range(pairs)]
        state.update(dirs=[own["ys"][j].to(dtype) for j in order], steps=[own["ss"][j].to(dtype) for j in order],
                     rhos=[float(own["rhos"][j]) for j in order], t=float(own["nums"][1]),
                     h_diag=float(own["nums"][2]), d=own["d"].to(dtype) if has else None,
                     prev_grad=own["prev_grad"].to(dtype) if has else None)


OPTIMIZERS = ("LBFGS", "Adam", "AdamW")


def make_optimizer(params: List[torch.Tensor], opt: str, lr: float) -> torch.optim.Optimizer:
    """``opt``: "LBFGS" (this module's strong-Wolfe L-BFGS, 20 inner iterations per step, history
    10, tolerances at 1e-32 so it runs its steps), "Adam" or "AdamW" (torch's, default betas)."""
    if opt == "LBFGS":
        return LBFGS(params, lr=lr, history_size=10, line_search_fn="strong_wolfe",
                     tolerance_grad=1e-32, tolerance_change=1e-32, tolerance_ys=1e-32)
    if opt in ("Adam", "AdamW"):
        return getattr(torch.optim, opt)(params, lr=lr)
    raise ValueError(f"opt must be one of {OPTIMIZERS}, got {opt!r}")


def accepted_finite(optimizer: torch.optim.Optimizer) -> bool:
    """Whether the point the last step accepted has a finite objective. This module's LBFGS
    records it (the closure's return value is the objective *before* the step); Adam-type
    optimisers evaluate only the start, so this is True for them."""
    if isinstance(optimizer, LBFGS):
        return math.isfinite(optimizer.state[optimizer.param_groups[0]["params"][0]].get("loss", 0.0))
    return True
