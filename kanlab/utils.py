"""pykan-compatible import path: ``from kanlab.utils import create_dataset``."""
from .datasets import create_dataset

__all__ = ["create_dataset"]
