"""Locations of the bundled assets (``assets/`` at the repository root)."""
from __future__ import annotations

import os

ROOT = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "assets")


def asset(*parts) -> str:
    """Path of a bundled asset; FileNotFoundError naming it when missing (e.g. non-editable install)."""
    path = os.path.join(ROOT, *parts)
    if not os.path.exists(path):
        raise FileNotFoundError(f"bundled asset not found: {path} (install Penumbra from its repository "
                                "with `pip install -e .`, or pass your own file)")
    return path
