"""Datasets: pykan's ``create_dataset``, the KAN paper's function families and readers for the
data folder. Nothing here downloads: files come from a folder (see ``data_folder``)."""
from .core import create_dataset, data_folder, load_mnist, read_idx

__all__ = ["create_dataset", "data_folder", "read_idx", "load_mnist"]
