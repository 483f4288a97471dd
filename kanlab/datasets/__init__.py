"""Datasets: pykan's ``create_dataset``, the KAN paper's function families and readers for the
data folder. Nothing here downloads: files come from a folder (see ``data_folder``)."""
from .core import create_dataset, data_folder, load_mnist, read_idx
from .feynman import FEYNMAN_KAN_PAPER, FeynmanEquation, feynman_dataset, feynman_equation, feynman_equations
from .poker import POKER_CLASSES, poker_all_hands, poker_dataset, poker_hands, poker_label, poker_split
from .special import SPECIAL_FUNCTIONS, special_dataset, special_function
from .tabular import TABULAR_DATASETS, load_tabular, standardize
from .toy import TOY_FUNCTIONS, toy_dataset, toy_function

__all__ = [
    "create_dataset", "data_folder", "read_idx", "load_mnist",
    "TOY_FUNCTIONS", "toy_dataset", "toy_function",
    "SPECIAL_FUNCTIONS", "special_dataset", "special_function",
    "FEYNMAN_KAN_PAPER", "FeynmanEquation", "feynman_equations", "feynman_equation", "feynman_dataset",
    "POKER_CLASSES", "poker_hands", "poker_label", "poker_all_hands", "poker_split", "poker_dataset",
    "TABULAR_DATASETS", "load_tabular", "standardize",
]
