"""kanlab: Kolmogorov-Arnold Networks with pykan's workflow, exact B-splines, fast and reliable."""
from .datasets import create_dataset, load_mnist
from .layer import KANLayer
from .model import KAN
from .train import fit

__version__ = "0.1.0"
__all__ = ["KAN", "KANLayer", "create_dataset", "fit", "load_mnist", "__version__"]
