"""Locations of the bundled assets (``assets/`` in the repository, installed as ``penumbra.data``)."""
from __future__ import annotations

import importlib.resources
import os

ROOT = str(importlib.resources.files("penumbra.data"))


def asset(*parts) -> str:
    """Path of a bundled asset; FileNotFoundError naming it when missing."""
    path = os.path.join(ROOT, *parts)
    if not os.path.exists(path):
        raise FileNotFoundError(f"bundled asset not found: {path} (the Penumbra installation is incomplete: "
                                "reinstall it, or pass your own file)")
    return path
