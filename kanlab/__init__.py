"""kanlab: Kolmogorov-Arnold Networks with pykan's workflow, exact B-splines, fast and reliable."""
from .datasets import create_dataset, load_mnist
from .layer import KANLayer
from .model import KAN
from .network import KANNetwork
from .optim import LBFGS
from .train import fit
from .utils import SYMBOLIC_LIB, add_symbolic, ex_round

__version__ = "0.1.0"
#: pykan's ``from kan import *`` also hands its users ``torch``, ``nn``, ``np`` and ``plt`` (and
#: ~900 other names it never meant to export); tutorials rely on these four, so the star import
#: gives them too (``plt`` imports matplotlib.pyplot then, as pykan's does; ``import kanlab`` does not).
_PYKAN_STAR = ["torch", "nn", "np", "plt"]
__all__ = ["KAN", "KANLayer", "KANNetwork", "LBFGS", "SYMBOLIC_LIB", "add_symbolic", "create_dataset", "ex_round",
           "fit", "load_mnist", "__version__"] + _PYKAN_STAR

_LAZY = {"KANRegressor": "estimators", "KANClassifier": "estimators"}  # need scikit-learn
#: ``nn`` is kanlab.nn: torch.nn (any name it lacks falls back to torch.nn) plus the KAN layers.
_MODULES = {"torch": "torch", "nn": "kanlab.nn", "np": "numpy", "plt": "matplotlib.pyplot"}


def __getattr__(name: str):
    """``kanlab.KANRegressor`` / ``kanlab.KANClassifier`` import scikit-learn on first use only; the
    modules of pykan's star import are imported when asked for."""
    import importlib

    if name in _LAZY:
        return getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    if name in _MODULES:
        return importlib.import_module(_MODULES[name])
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
