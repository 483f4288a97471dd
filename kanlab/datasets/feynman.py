"""The AI Feynman equation tables (``feynman/FeynmanEquations.csv`` and ``BonusEquations.csv`` in
the data folder) as records, torch-callable formulas and sampled datasets. Nothing is downloaded.

Formulas are parsed with sympy (the tables write unary minus as ``~`` and use ``ln``/``arcsin``);
every variable name is bound to a plain symbol, so names such as ``I``, ``E`` or ``gamma`` never
turn into sympy constants or functions. The variable count is taken from the variable-name columns,
not the table's count column (a few rows state it wrongly).

The KAN paper's Table 2 fits 27 of these equations in a dimensionless form with fewer variables
(e.g. I.9.18 as ``a/((b-1)^2+(c-d)^2+(e-f)^2)``); the datasets here use the tables' formulas and
ranges as published.
"""
from __future__ import annotations

import csv
import functools
import math
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Dict, List, Optional, Tuple, Union

import sympy
import torch

from .core import create_dataset, data_folder

__all__ = ["FeynmanEquation", "FEYNMAN_KAN_PAPER", "feynman_equations", "feynman_equation", "feynman_dataset"]

FILES = ("FeynmanEquations.csv", "BonusEquations.csv")
MAX_VARIABLES = 10

# The 27 equations of the KAN paper's Table 2, by their name in FeynmanEquations.csv. The paper's
# row "II.11.7" (n0(1 + a cos(theta))) is the table's II.11.17, n_0(1 + p_d Ef cos(theta)/(kb T));
# FeynmanEquations.csv has no II.11.7.
FEYNMAN_KAN_PAPER: List[str] = [
    "I.6.2", "I.6.2b", "I.9.18", "I.12.11", "I.13.12", "I.15.3x", "I.16.6", "I.18.4", "I.26.2",
    "I.27.6", "I.29.16", "I.30.3", "I.30.5", "I.37.4", "I.40.1", "I.44.4", "I.50.26", "II.2.42",
    "II.6.15a", "II.11.17", "II.11.27", "II.35.18", "II.36.38", "II.38.3", "III.9.52", "III.10.19",
    "III.17.37",
]

def _elementwise(name: str) -> Callable:
    """``torch.<name>`` on tensors, ``math.<name>`` on plain numbers (constant factors such as
    ``sqrt(2)`` stay numbers in the generated code)."""
    torch_fn, math_fn = getattr(torch, name), getattr(math, name)
    return lambda a: torch_fn(a) if isinstance(a, torch.Tensor) else math_fn(a)


_TORCH_FUNCTIONS: Dict[str, Callable] = {
    name: _elementwise(name) for name in ("exp", "log", "sqrt", "sin", "cos", "tan", "asin", "acos", "atan", "tanh")
}
_PARSE_FUNCTIONS = {"exp": sympy.exp, "ln": sympy.log, "log": sympy.log, "sqrt": sympy.sqrt, "sin": sympy.sin,
                    "cos": sympy.cos, "tan": sympy.tan, "arcsin": sympy.asin, "arccos": sympy.acos,
                    "arctan": sympy.atan, "tanh": sympy.tanh, "pi": sympy.pi}


@dataclass(frozen=True)
class FeynmanEquation:
    """One row of the tables: ``name`` (e.g. ``"I.6.2"``, ``"test_1"``), the output's name, the
    formula as written in the table, the variable names in column order and one ``(lo, hi)``
    sampling range per variable."""

    name: str
    output: str
    formula: str
    variables: Tuple[str, ...]
    ranges: Tuple[Tuple[float, float], ...]
    source: str

    @property
    def n_var(self) -> int:
        return len(self.variables)

    def expression(self) -> sympy.Expr:
        """The formula as a sympy expression in symbols named like ``variables``."""
        return _parse(self.formula, self.variables)

    def function(self) -> Callable[[torch.Tensor], torch.Tensor]:
        """A torch target mapping ``(batch, n_var)`` (columns in ``variables`` order) to ``(batch, 1)``."""
        expr = self.expression()
        symbols = [sympy.Symbol(v) for v in self.variables]
        fn = sympy.lambdify(symbols, expr, modules=[_TORCH_FUNCTIONS, "math"])
        n_var = self.n_var

        def target(x: torch.Tensor) -> torch.Tensor:
            if x.ndim != 2 or x.shape[1] != n_var:
                raise ValueError(f"{self.name} takes inputs of shape (batch, {n_var}), got {tuple(x.shape)}")
            y = fn(*x.unbind(dim=1))
            y = torch.as_tensor(y, dtype=x.dtype, device=x.device)
            return y.expand(x.shape[0]).reshape(-1, 1) if y.ndim == 0 else y.reshape(-1, 1)

        return target


def _parse(formula: str, variables: Tuple[str, ...]) -> sympy.Expr:
    """The formula as a sympy expression in ``variables``; any other name is an error (sympy
    would otherwise read e.g. ``E`` or ``gamma`` as its own constant or function)."""
    stray = set(re.findall(r"[A-Za-z_][A-Za-z_0-9]*", formula)) - set(variables) - set(_PARSE_FUNCTIONS)
    if stray:
        raise ValueError(f"formula {formula!r} uses {sorted(stray)} besides its variables {list(variables)}")
    names = {v: sympy.Symbol(v) for v in variables}
    local = {**_PARSE_FUNCTIONS, **names}
    try:
        expr = sympy.sympify(formula.replace("~", "-"), locals=local)
    except (sympy.SympifyError, SyntaxError, TypeError) as err:
        raise ValueError(f"cannot parse formula {formula!r}: {err}") from err
    unknown = {str(s) for s in expr.free_symbols} - set(variables)
    if unknown:
        raise ValueError(f"formula {formula!r} uses {sorted(unknown)} besides its variables {list(variables)}")
    return expr


def _number(text: str, what: str) -> float:
    try:
        return float(text)
    except ValueError as err:
        raise ValueError(f"{what}: expected a number, got {text!r}") from err


@functools.lru_cache(maxsize=8)
def _read(folder: str) -> Tuple[FeynmanEquation, ...]:
    records = []
    for file in FILES:
        path = Path(folder) / file
        if not path.is_file():
            raise FileNotFoundError(f"missing {path}: put the AI Feynman tables ({', '.join(FILES)}) in "
                                    f"{Path(folder)}; kanlab never downloads data")
        with open(path, newline="", encoding="utf-8-sig") as fh:
            for row in csv.DictReader(fh):
                if not (row.get("Filename") or "").strip():
                    continue
                name = row["Filename"].strip()
                variables, ranges = [], []
                for i in range(1, MAX_VARIABLES + 1):
                    var = (row.get(f"v{i}_name") or "").strip()
                    if not var:
                        break
                    lo = _number(row[f"v{i}_low"], f"{file} {name} v{i}_low")
                    hi = _number(row[f"v{i}_high"], f"{file} {name} v{i}_high")
                    variables.append(var)
                    ranges.append((lo, hi))
                records.append(FeynmanEquation(name=name, output=(row.get("Output") or "").strip(),
                                               formula=row["Formula"].strip(), variables=tuple(variables),
                                               ranges=tuple(ranges), source=file))
    return tuple(records)


def feynman_equations(folder: Optional[Union[str, os.PathLike]] = None) -> List[FeynmanEquation]:
    """All 120 equations (100 main + 20 bonus) read from ``<data folder>/feynman/``."""
    return list(_read(str(data_folder(folder) / "feynman")))


def feynman_equation(name: str, folder: Optional[Union[str, os.PathLike]] = None) -> FeynmanEquation:
    """The record named ``name`` (e.g. ``"I.6.2"`` or ``"test_3"``)."""
    records = feynman_equations(folder)
    for rec in records:
        if rec.name == name:
            return rec
    raise ValueError(f"unknown Feynman equation {name!r}; accepted: {', '.join(r.name for r in records)}")


def feynman_dataset(
    name: str,
    train_num: int = 1000,
    test_num: int = 1000,
    seed: int = 0,
    folder: Optional[Union[str, os.PathLike]] = None,
    device: Union[str, torch.device] = "cpu",
    dtype: torch.dtype = torch.float32,
) -> Dict[str, torch.Tensor]:
    """pykan's dataset dict for one equation: inputs uniform on the table's ranges,
    ``train_input`` ``(train_num, n_var)`` with columns in the record's ``variables`` order,
    ``train_label`` ``(train_num, 1)``, likewise for the test split."""
    rec = feynman_equation(name, folder)
    data = create_dataset(rec.function(), n_var=rec.n_var, ranges=[list(r) for r in rec.ranges],
                          train_num=train_num, test_num=test_num, seed=seed, device=device, dtype=dtype)
    for key in ("train_label", "test_label"):
        if key in data and not bool(torch.isfinite(data[key]).all()):
            raise ValueError(f"{name}: the formula {rec.formula!r} is not finite at some sampled points")
    return data


