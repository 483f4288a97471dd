"""The KAN paper's five toy functions (Sec. 3.1, Fig. 3.1) as a registry and a dataset builder.

Every target maps ``(batch, n_var)`` to ``(batch, 1)``; inputs are uniform on ``[-1, 1]^n_var``
as in pykan's ``create_dataset``.
"""
from __future__ import annotations

import math
from typing import Callable, Dict, List, Tuple, Union

import torch

from .core import create_dataset

__all__ = ["TOY_FUNCTIONS", "toy_dataset", "toy_function"]

Target = Callable[[torch.Tensor], torch.Tensor]


def j0_20x(x: torch.Tensor) -> torch.Tensor:
    """J0(20 x): ``(batch, 1) -> (batch, 1)``."""
    return torch.special.bessel_j0(20 * x[:, [0]])


def exp_sin_plus_square(x: torch.Tensor) -> torch.Tensor:
    """exp(sin(pi x) + y^2): ``(batch, 2) -> (batch, 1)``."""
    return torch.exp(torch.sin(math.pi * x[:, [0]]) + x[:, [1]] ** 2)


def product(x: torch.Tensor) -> torch.Tensor:
    """x * y: ``(batch, 2) -> (batch, 1)``."""
    return x[:, [0]] * x[:, [1]]


def exp_mean_sin_squared(x: torch.Tensor) -> torch.Tensor:
    """exp(mean_i sin^2(pi x_i / 2)) over all columns (100 in the paper): ``(batch, d) -> (batch, 1)``."""
    return torch.exp(torch.mean(torch.sin(math.pi * x / 2) ** 2, dim=1, keepdim=True))


def exp_two_sines(x: torch.Tensor) -> torch.Tensor:
    """exp((sin(pi(x1^2+x2^2)) + sin(pi(x3^2+x4^2))) / 2): ``(batch, 4) -> (batch, 1)``."""
    a = torch.sin(math.pi * (x[:, [0]] ** 2 + x[:, [1]] ** 2))
    b = torch.sin(math.pi * (x[:, [2]] ** 2 + x[:, [3]] ** 2))
    return torch.exp(0.5 * (a + b))


# name -> (target, number of input variables, the KAN shape the paper uses)
TOY_FUNCTIONS: Dict[str, Tuple[Target, int, List[int]]] = {
    "j0": (j0_20x, 1, [1, 1]),
    "expsin": (exp_sin_plus_square, 2, [2, 1, 1]),
    "xy": (product, 2, [2, 2, 1]),
    "100d": (exp_mean_sin_squared, 100, [100, 1, 1]),
    "4d": (exp_two_sines, 4, [4, 4, 2, 1]),
}

TOY_TITLES: Dict[str, str] = {
    "j0": "J0(20x)",
    "expsin": "exp(sin(pi x)+y^2)",
    "xy": "x*y",
    "100d": "exp(mean sin^2(pi x_i/2)), 100 inputs",
    "4d": "exp(0.5(sin(pi(x1^2+x2^2))+sin(pi(x3^2+x4^2))))",
}


def toy_function(name: str) -> Tuple[Target, int, List[int]]:
    """``(target, n_var, paper width)`` for ``name``, one of ``TOY_FUNCTIONS``' keys."""
    if name not in TOY_FUNCTIONS:
        raise ValueError(f"unknown toy function {name!r}; accepted: {', '.join(TOY_FUNCTIONS)}")
    fn, n_var, width = TOY_FUNCTIONS[name]
    return fn, n_var, list(width)


def toy_dataset(
    name: str,
    train_num: int = 1000,
    test_num: int = 1000,
    seed: int = 0,
    device: Union[str, torch.device] = "cpu",
    dtype: torch.dtype = torch.float32,
) -> Dict[str, torch.Tensor]:
    """pykan's dataset dict for a toy function: inputs U[-1, 1], ``train_input``
    ``(train_num, n_var)``, ``train_label`` ``(train_num, 1)`` and likewise for the test split."""
    fn, n_var, _ = toy_function(name)
    return create_dataset(fn, n_var=n_var, train_num=train_num, test_num=test_num, seed=seed,
                          device=device, dtype=dtype)
