"""The ``pyroomacoustics`` preset reproduces pyroomacoustics 0.10.1's ShoeBox RIR sample by sample, and
the NumPy linear operators (filter bank, high-pass, inverse FFT) have exact adjoints."""
import numpy as np
import pytest

pra = pytest.importorskip("pyroomacoustics")

import penumbra.scenes.room as R
from penumbra.integrators.acoustic import filterbank, rir
from penumbra.integrators.acoustic.conventions import conventions

CENTERS = [125, 250, 500, 1000, 2000, 4000, 8000]
BANDED = [0.08, 0.15, 0.3, 0.45, 0.55, 0.6, 0.65]


def pra_rir(dims, src, rcv, order, fs, walls, air=False):
    mats = {}
    for name, a in walls.items():
        mats[name] = pra.Material(float(a)) if np.ndim(a) == 0 else pra.Material({"coeffs": list(a), "center_freqs": CENTERS})
    room = pra.ShoeBox(dims, fs=fs, materials=mats, max_order=order, air_absorption=air)
    room.add_source(src)
    room.add_microphone(rcv)
    room.compute_rir()
    return room.rir[0][0]


WALLS_FLAT = {"west": 0.1, "east": 0.3, "south": 0.2, "north": 0.25, "floor": 0.4, "ceiling": 0.15}
WALLS_BANDED = {"west": BANDED, "east": 0.3, "south": [a * 0.5 for a in BANDED], "north": 0.25,
                "floor": "carpet_cotton", "ceiling": BANDED}


def _walls_for_pra(walls):
    return {k: (R.material(v).absorption if isinstance(v, str) else v) for k, v in walls.items()}


@pytest.mark.parametrize("order", [1, 2, 5, 10, 20])
@pytest.mark.parametrize("case", ["flat", "bands", "air"])
def test_preset_matches_pyroomacoustics(order, case):
    dims, src, rcv, fs = [6.3, 4.1, 3.2], [1.1, 1.3, 1.2], [4.3, 2.9, 1.7], 16000
    walls = WALLS_FLAT if case == "flat" else WALLS_BANDED
    ref = pra_rir(dims, src, rcv, order, fs, _walls_for_pra(walls), air=(case == "air"))
    room = R.shoebox(dims, src, rcv, materials=walls, fs=fs, humidity=30,
                     air_absorption="pyroomacoustics" if case == "air" else False)
    h = rir(room, order, "pyroomacoustics")
    assert len(h) == len(ref)
    err = np.linalg.norm(h - ref) / np.linalg.norm(ref)
    assert err <= 1e-3, err


def test_preset_matches_at_8khz_with_bands():
    dims, src, rcv = [5.0, 3.5, 2.8], [1.0, 1.0, 1.0], [3.9, 2.2, 1.6]
    ref = pra_rir(dims, src, rcv, 8, 8000, {k: BANDED for k in WALLS_FLAT})
    h = rir(R.shoebox(dims, src, rcv, materials=BANDED, fs=8000), 8, "pyroomacoustics")
    assert len(h) == len(ref) and np.linalg.norm(h - ref) / np.linalg.norm(ref) <= 1e-3


def test_filter_bank_equals_pyroomacoustics_band_analysis():
    from pyroomacoustics.acoustics import AntoniOctaveFilterBank
    fb = AntoniOctaveFilterBank(fs=16000, n_fft=512, base_frequency=125.0, slope=0)
    x = np.random.default_rng(0).standard_normal(1777)
    ours = filterbank.band_filter_np(x, 16000)
    for b in range(7):
        assert np.allclose(ours[b], fb.analysis(x, band=b), atol=1e-12)
    assert np.allclose(ours.sum(axis=0), x, atol=1e-10)  # perfect reconstruction


@pytest.mark.parametrize("N", [50, 777])
def test_highpass_adjoint_is_exact(N):
    rng = np.random.default_rng(N)
    sos = filterbank.highpass_sos(16000, 10.0, 2)
    x, g = rng.standard_normal(N), rng.standard_normal(N)
    lhs = np.dot(filterbank.sosfiltfilt_np(sos, x), g)
    rhs = np.dot(x, filterbank.sosfiltfilt_adjoint_np(sos, g))
    assert lhs == pytest.approx(rhs, rel=1e-9)


def test_conventions_are_named_options():
    c = conventions("pyroomacoustics")
    assert (c.amplitude, c.reflection_sign, c.kernel, c.lead_in, c.highpass) == ("1/r", 1, "sinc_lut", 40, (10.0, 2))
    assert conventions("penumbra", reflection_sign=-1).reflection_sign == -1
    with pytest.raises(ValueError, match="reflection_sign"):
        conventions("penumbra", reflection_sign=2)
    with pytest.raises(ValueError, match="unknown conventions preset"):
        conventions("nope")


def test_amplitude_law_and_sign_conventions():
    room = R.shoebox([6, 4, 3], [1, 1, 1], [4, 3, 1.5], materials=0.2)
    a = rir(room, 3, conventions("penumbra"))
    b = rir(room, 3, conventions("penumbra", amplitude="1/(4pi r)"))
    assert np.allclose(b, a / (4 * np.pi), atol=1e-15)
    # sign flip: the direct path is unchanged, first-order reflections flip
    c0 = rir(room, 0, conventions("penumbra"))
    c1 = rir(room, 1, conventions("penumbra", reflection_sign=-1))
    p1 = rir(room, 1, conventions("penumbra"))
    n = len(c0)
    assert np.allclose((c1[:n] + p1[:n]) / 2, c0, atol=1e-12)


def test_frequency_kernel_agrees_with_windowed_sinc():
    room = R.shoebox([6, 4, 3], [1.1, 1.3, 1.2], [4.3, 2.9, 1.7], materials=0.3)
    a = rir(room, 6, conventions("penumbra"))
    b = rir(room, 6, conventions("penumbra", kernel="frequency"))
    # both are band-limited delays; the ideal sinc's slow 1/t tails (cut by the 81-tap window) differ
    # mostly near Nyquist, so compare the spectra below 0.75 * Nyquist
    assert len(a) == len(b)
    n = 4 * len(a)
    A, B = np.fft.rfft(a, n), np.fft.rfft(b, n)
    band = np.fft.rfftfreq(n, 1 / 16000) < 6000
    assert np.linalg.norm(A[band] - B[band]) / np.linalg.norm(A[band]) < 1e-2
