"""Datasets: pykan's ``create_dataset``, the KAN paper's function families and readers for the
data folder. Nothing here downloads: files come from a folder (see ``data_folder``)."""
from .core import create_dataset, data_folder, load_mnist, read_idx

__all__ = ["create_dataset", "data_folder", "read_idx", "load_mnist"]
from .poker import POKER_CLASSES, poker_all_hands, poker_dataset, poker_hands, poker_label  # noqa: E402
from .tabular import TABULAR_DATASETS, load_tabular, standardize  # noqa: E402

__all__ += ["POKER_CLASSES", "poker_hands", "poker_label", "poker_all_hands", "poker_dataset",
            "TABULAR_DATASETS", "load_tabular", "standardize"]
from .feynman import FEYNMAN_KAN_PAPER, FeynmanEquation, feynman_dataset, feynman_equation, feynman_equations  # noqa: E402
from .special import SPECIAL_FUNCTIONS, special_dataset, special_function  # noqa: E402
from .toy import TOY_FUNCTIONS, toy_dataset, toy_function  # noqa: E402

__all__ += ["TOY_FUNCTIONS", "toy_dataset", "toy_function", "SPECIAL_FUNCTIONS", "special_dataset",
            "special_function", "FEYNMAN_KAN_PAPER", "FeynmanEquation", "feynman_equations", "feynman_equation",
            "feynman_dataset"]
