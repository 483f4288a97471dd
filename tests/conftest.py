"""Test-wide setup.

- Plots render off-screen (kanlab itself never switches the backend), unless the runner chose a
  backend with MPLBACKEND.
- ``fitted``: models fitted once per session and shared by the test files; every request gets a
  deep copy, so a test may change its model (fix edges, prune, refine) without touching others.
"""
import copy
import math
import os
from typing import Callable, Dict, Tuple

os.environ.setdefault("MPLBACKEND", "Agg")  # before anything imports matplotlib

import pytest  # noqa: E402
import torch  # noqa: E402

from kanlab import KAN, create_dataset  # noqa: E402

Fitted = Tuple[KAN, Dict[str, torch.Tensor], Dict[str, list]]


def _sin_of_x0() -> Fitted:
    """[2, 3, 1] on sin(pi x0) (x1 ignored), 20 LBFGS steps with sparsity: plots and edges."""
    ds = create_dataset(lambda x: torch.sin(math.pi * x[:, [0]]) + 0.0 * x[:, [1]], n_var=2, seed=0)
    model = KAN([2, 3, 1], grid=5, seed=0)
    return model, ds, model.fit(ds, opt="LBFGS", steps=20, lamb=0.01, progress=False)


def _sparse_three_inputs() -> Fitted:
    """[3, 5, 1] with sparsity on exp(sin(pi x0) + x1^2) (x2 unused): attribution and pruning."""
    ds = create_dataset(lambda x: torch.exp(torch.sin(math.pi * x[:, [0]]) + x[:, [1]] ** 2), n_var=3, seed=0)
    model = KAN([3, 5, 1], grid=5, seed=0)
    return model, ds, model.fit(ds, opt="LBFGS", steps=30, lamb=0.01, progress=False)


def _one_sine_edge() -> Fitted:
    """[1, 1] on sin(pi x), grid 10: one edge that symbolic fitting must call sin."""
    ds = create_dataset(lambda x: torch.sin(math.pi * x[:, [0]]), n_var=1, seed=0)
    model = KAN([1, 1], grid=10, seed=0)
    return model, ds, model.fit(ds, opt="LBFGS", steps=30, progress=False)


RECIPES: Dict[str, Callable[[], Fitted]] = {
    "sin_of_x0": _sin_of_x0, "sparse_three_inputs": _sparse_three_inputs, "one_sine_edge": _one_sine_edge,
}


@pytest.fixture(scope="session")
def fitted() -> Callable[[str], Fitted]:
    """``fitted(name)`` -> ``(model, dataset, history)``: a deep copy of the session's fitted
    model ``name`` (see ``RECIPES``), its dataset and its ``fit`` history."""
    cache: Dict[str, Fitted] = {}

    def get(name: str) -> Fitted:
        if name not in cache:
            cache[name] = RECIPES[name]()
        model, ds, history = cache[name]
        return copy.deepcopy(model), ds, history

    return get


@pytest.fixture
def float64_default():
    """torch's default dtype float64 for one test (pykan builds its models in the default dtype)."""
    old = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    yield
    torch.set_default_dtype(old)
