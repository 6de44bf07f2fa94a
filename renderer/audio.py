"""Audio I/O: WAV files via soundfile. Signals are float NumPy arrays of shape (N,) or (N, channels)."""
from __future__ import annotations

import os

import numpy as np

from .arrays import to_numpy


def write_wav(path, signal, fs: int, normalize: bool = True, subtype: str = "FLOAT") -> str:
    """Write ``signal`` sampled at ``fs`` Hz. ``normalize`` scales the peak to 0.99 (clipping-safe PCM)."""
    import soundfile as sf
    x = to_numpy(signal).astype(np.float64)
    if not np.all(np.isfinite(x)):
        raise ValueError(f"cannot write {path}: the signal contains NaN or Inf")
    if normalize:
        peak = np.max(np.abs(x)) if x.size else 0.0
        if peak > 0:
            x = 0.99 * x / peak
    os.makedirs(os.path.dirname(os.path.abspath(os.fspath(path))), exist_ok=True)
    sf.write(os.fspath(path), x, int(fs), subtype=subtype)
    return os.fspath(path)


def read_wav(path) -> tuple[np.ndarray, int]:
    """Read a sound file; returns (float64 signal, sample rate)."""
    import soundfile as sf
    if not os.path.exists(os.fspath(path)):
        raise FileNotFoundError(f"audio file not found: {path}")
    x, fs = sf.read(os.fspath(path), dtype="float64")
    return x, fs
