"""Finite-difference references cached on disk, keyed by a hash of their configuration.

A reference is stored under ``sha256(canonical JSON of the configuration)``; the configuration
names everything the value depends on (scene fingerprint, perturbation, step, sample count, seed,
passes) and :func:`code_version` of the code that computes it (source hashes of the modules plus
the NumPy / Dr.Jit / Mitsuba versions), so a change to any of them is a cache miss.

Directory: ``$PENUMBRA_FD_CACHE`` if set, else ``.pytest_cache/penumbra-fd`` at the repository
root. ``PENUMBRA_FD_CACHE=off`` disables the cache (every reference is computed). A cold run
computes and stores; a warm run loads. An entry that cannot be read, whose stored key differs, or
whose stored checksum does not match its data is recomputed and rewritten, never trusted.
"""
from __future__ import annotations

import hashlib
import importlib
import json
import os
import tempfile
from pathlib import Path
from typing import Callable

import numpy as np

ENV = "PENUMBRA_FD_CACHE"
REPO_ROOT = Path(__file__).resolve().parents[2]


def _canonical(obj):
    """JSON-serialisable canonical form: arrays as (dtype, shape, sha256 of bytes), floats by repr."""
    if isinstance(obj, dict):
        return {str(k): _canonical(v) for k, v in sorted(obj.items(), key=lambda kv: str(kv[0]))}
    if isinstance(obj, (list, tuple)):
        return [_canonical(v) for v in obj]
    if isinstance(obj, np.ndarray) or (hasattr(obj, "__array__") and not isinstance(obj, (str, bytes))):
        a = np.ascontiguousarray(np.asarray(obj))
        return {"dtype": str(a.dtype), "shape": list(a.shape), "sha256": hashlib.sha256(a.tobytes()).hexdigest()}
    if isinstance(obj, (bool, int, str)) or obj is None:
        return obj
    if isinstance(obj, (float, np.floating)):
        return repr(float(obj))
    if isinstance(obj, np.integer):
        return int(obj)
    raise TypeError(f"cache configuration value {obj!r} of type {type(obj).__name__} has no canonical form")


def config_hash(config: dict) -> str:
    """sha256 of the canonical JSON of ``config``."""
    return hashlib.sha256(json.dumps(_canonical(config), sort_keys=True).encode()).hexdigest()


def code_version(*modules: str) -> dict:
    """Source hashes of the named modules (a package: all its ``.py`` files) and library versions."""
    import drjit
    import mitsuba
    out = {"numpy": np.__version__, "drjit": drjit.__version__, "mitsuba": mitsuba.__version__}
    for name in modules:
        mod = importlib.import_module(name)
        root = Path(mod.__file__)
        files = sorted(root.parent.rglob("*.py")) if root.name == "__init__.py" else [root]
        h = hashlib.sha256()
        for f in files:
            h.update(f.relative_to(root.parent).as_posix().encode())
            h.update(f.read_bytes())
        out[name] = h.hexdigest()
    return out


class FDCache:
    """Directory of ``<key>.npz`` files, each holding ``value``, its ``key`` and a ``checksum``."""

    def __init__(self, directory: str | os.PathLike | None = None):
        setting = os.environ.get(ENV, "") if directory is None else str(directory)
        self.enabled = setting.lower() != "off"
        self.directory = Path(setting) if setting and self.enabled else REPO_ROOT / ".pytest_cache" / "penumbra-fd"
        self.hits = self.misses = 0

    def path(self, key: str) -> Path:
        return self.directory / f"{key}.npz"

    @staticmethod
    def _checksum(value: np.ndarray) -> str:
        return hashlib.sha256(str(value.dtype).encode() + str(value.shape).encode() + value.tobytes()).hexdigest()

    def load(self, key: str) -> np.ndarray | None:
        """The stored value, or None if absent or not intact (unreadable, other key, bad checksum)."""
        try:
            with np.load(self.path(key), allow_pickle=False) as z:
                value = np.ascontiguousarray(z["value"])
                if str(z["key"]) != key or str(z["checksum"]) != self._checksum(value):
                    return None
                return value
        except Exception:  # missing, truncated, not a zip, missing fields: recompute
            return None

    def store(self, key: str, value: np.ndarray, config: dict) -> None:
        """Write atomically (temporary file, then rename), so a reader never sees a partial entry."""
        self.directory.mkdir(parents=True, exist_ok=True)
        value = np.ascontiguousarray(value)
        fd, tmp = tempfile.mkstemp(dir=self.directory, suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as f:
                np.savez(f, value=value, key=np.array(key), checksum=np.array(self._checksum(value)),
                         config=np.array(json.dumps(_canonical(config), sort_keys=True)))
            os.replace(tmp, self.path(key))
        except BaseException:
            if os.path.exists(tmp):
                os.unlink(tmp)
            raise

    def get_or_compute(self, config: dict, compute: Callable[[], np.ndarray]) -> np.ndarray:
        """The cached value for ``config``, computing and storing it on a miss."""
        if not self.enabled:
            return np.asarray(compute())
        key = config_hash(config)
        value = self.load(key)
        if value is not None:
            self.hits += 1
            return value
        self.misses += 1
        value = np.asarray(compute())
        self.store(key, value, config)
        return value


def default_cache() -> FDCache:
    """The cache at the directory the environment names now (read at each call, so tests can redirect it)."""
    return FDCache()
