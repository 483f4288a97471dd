"""kanlab: Kolmogorov-Arnold Networks with pykan's workflow, exact B-splines, fast and reliable."""
from .datasets import create_dataset, load_mnist
from .layer import KANLayer
from .model import KAN
from .network import KANNetwork
from .optim import LBFGS
from .train import fit

__version__ = "0.1.0"
__all__ = ["KAN", "KANLayer", "KANNetwork", "LBFGS", "create_dataset", "fit", "load_mnist", "__version__"]

_LAZY = {"KANRegressor": "estimators", "KANClassifier": "estimators"}  # need scikit-learn


def __getattr__(name: str):
    """``kanlab.KANRegressor`` / ``kanlab.KANClassifier`` import scikit-learn on first use only."""
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
