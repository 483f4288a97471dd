"""Test-wide setup: plots render off-screen (kanlab itself never switches the backend), unless the
runner chose a backend with MPLBACKEND."""
import os

os.environ.setdefault("MPLBACKEND", "Agg")  # before anything imports matplotlib
