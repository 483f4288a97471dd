"""pykan-compatible import path: ``from kanlab.utils import create_dataset, SYMBOLIC_LIB, add_symbolic, ex_round``.

- :func:`create_dataset`: :func:`kanlab.datasets.create_dataset`.
- :data:`SYMBOLIC_LIB`: the symbolic library by name (a live read-only mapping; ``SYMBOLIC_LIB.keys()``,
  ``'sin' in SYMBOLIC_LIB``; each entry unpacks like pykan's ``(fun, fun_sympy, complexity, fun_singularity)``).
- :func:`add_symbolic`: ``add_symbolic(name, fun, c=1, fun_singularity=None)``, pykan's signature.
- :func:`ex_round`: round the floats of a sympy expression to ``n_digit`` decimals, as pykan's.
"""
from .datasets import create_dataset
from .formula import ex_round
from .symbolic_lib import SYMBOLIC_LIB, add_symbolic

__all__ = ["SYMBOLIC_LIB", "add_symbolic", "create_dataset", "ex_round"]
