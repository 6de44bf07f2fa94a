"""Independent float64 NumPy reference of the shoebox image-source RIR (the model the acoustic gradient
checks take finite differences of). Written separately from integrators/acoustic: loops and plain NumPy,
kernel = Hann-windowed sinc that moves with the arrival (Penumbra's default), optional octave bands
through pyroomacoustics' own Antoni filter bank."""
import numpy as np


def images(dims, src, order):
    out, hits = [], []
    L = np.asarray(dims, float)
    s = np.asarray(src, float)
    for nx in range(-order, order + 1):
        for ny in range(-order, order + 1):
            for nz in range(-order, order + 1):
                n = np.array([nx, ny, nz])
                if np.abs(n).sum() > order:
                    continue
                pos = np.where(n % 2 == 0, n * L + s, (n + 1) * L - s)
                h = []
                for a in range(3):
                    k = abs(n[a])
                    low = (k + 1) // 2 if n[a] < 0 else k // 2
                    h += [low, k - low]
                out.append(pos)
                hits.append(h)
    return np.array(out), np.array(hits)


def shoebox_rir(dims, src, rcv, absorption, order, fs=16000, c=343.0, taps=81, lead_in=40, air=None,
                length=None):
    """absorption: (6,) flat per wall, or (6, 7) per band (then bands combined by pyroomacoustics'
    AntoniOctaveFilterBank). air: (7,) energy coefficients or None."""
    pos, hits = images(dims, src, order)
    d = np.linalg.norm(pos - np.asarray(rcv, float), axis=1)
    alpha = np.asarray(absorption, float)
    banded = alpha.ndim == 2
    A = alpha if banded else alpha[:, None]
    refl = np.sqrt(1 - A)                                   # (6, B)
    amp = np.prod(refl[None, :, :] ** hits[:, :, None], axis=1) / d[:, None]   # (M, B)
    if air is not None:
        amp = amp * np.exp(-0.5 * np.asarray(air)[None, :] * d[:, None])
    sample = d * fs / c + lead_in
    half = taps // 2
    N = int(np.ceil(sample.max() + half + 1)) + 1 if length is None else length
    B = amp.shape[1]
    out = np.zeros((B, N))
    for i in range(len(d)):
        fl = np.floor(sample[i])
        fr = sample[i] - fl
        k = np.arange(taps)
        t = k - half - fr
        w = np.where(np.abs(t) <= half, 0.5 + 0.5 * np.cos(2 * np.pi * t / (taps - 1)), 0.0) * np.sinc(t)
        idx = int(fl) - half + k
        for b in range(B):
            out[b, idx] += amp[i, b] * w
    if not banded:
        return out[0]
    from pyroomacoustics.acoustics import AntoniOctaveFilterBank
    fb = AntoniOctaveFilterBank(fs=fs, n_fft=512, base_frequency=125.0, slope=0)
    return sum(fb.analysis(out[b], band=b) for b in range(B))
