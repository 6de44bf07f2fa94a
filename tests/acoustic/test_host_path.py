"""The no-gradient host path of ``simulate`` (NumPy image positions and amplitudes, the synthesis of
integrators/acoustic/synthesis_kernel.py, NumPy/SciPy filters) against the differentiable Dr.Jit path on
every kind of room search (shoebox lattice, box mesh, prism beams, image tree), every preset, octave bands,
a cut length and the ray tail; its NumPy fallback against the compiled kernel; and the choice of path."""
import drjit as dr
import numpy as np
import pytest

import penumbra.scenes.room as R
from penumbra.integrators.acoustic import default_params, filterbank, simulate, synthesis_kernel
from penumbra.integrators.acoustic.conventions import conventions

from .test_image_tree import L_CORNERS, RCV, SRC, _sloped

DIMS, BOX_SRC, BOX_RCV = [6.0, 4.0, 3.0], [1.1, 1.3, 1.2], [4.3, 2.9, 1.7]
BANDED = [0.08, 0.15, 0.3, 0.45, 0.55, 0.6, 0.65]


def _rel(a, b):
    return np.linalg.norm(a - b) / np.linalg.norm(b)


def _rooms():
    box = R.shoebox(DIMS, BOX_SRC, BOX_RCV, materials=0.2)
    return {"shoebox": box,
            "shoebox, octave bands": R.shoebox(DIMS, BOX_SRC, BOX_RCV, materials=BANDED),
            "box mesh": R.load_room((box.vertices, box.faces), source=BOX_SRC, receiver=BOX_RCV, materials=0.2),
            "L prism": R.extruded_room(L_CORNERS, 3.0, SRC, RCV, materials=0.2),
            "sloped L (tree)": _sloped()}


@pytest.mark.parametrize("preset", ["penumbra", "pyroomacoustics", "gpurir"])
def test_host_path_equals_drjit_path(preset):
    for name, room in _rooms().items():
        for kw in ({}, {"length": 700}):
            host = simulate(room, 4, preset, host=True, **kw)
            ref = simulate(room, 4, preset, host=False, **kw)
            assert host.host is not None and ref.host is None
            assert host.n_paths == ref.n_paths and host.bands == ref.bands
            a, b = host.numpy(), ref.numpy()
            assert a.shape == b.shape, name
            assert _rel(a, b) < 1e-6, (name, kw, _rel(a, b))
            assert np.array_equal(np.array(host.signal), a)      # the Dr.Jit copy holds the same values


@pytest.mark.slow  # ~19 s with a cold kernel cache (the Dr.Jit tail's kernels); the presets above are the fast cases
def test_host_path_with_ray_tail_equals_drjit_path():
    room = _sloped()
    a = simulate(room, 2, tail={"n_rays": 2000, "t_max": 0.3}, host=True).numpy()
    b = simulate(room, 2, tail={"n_rays": 2000, "t_max": 0.3}, host=False).numpy()
    assert _rel(a, b) < 1e-6


@pytest.mark.parametrize("preset", ["penumbra", "pyroomacoustics"])
def test_numpy_fallback_equals_compiled_synthesis(preset, monkeypatch):
    """Without numba: the NumPy synthesis and scipy's high-pass give the Dr.Jit path's RIR."""
    room = R.shoebox(DIMS, BOX_SRC, BOX_RCV, materials=BANDED)
    ref = simulate(room, 5, preset, host=False).numpy()
    if synthesis_kernel.AVAILABLE:
        assert _rel(simulate(room, 5, preset, host=True).numpy(), ref) < 1e-6
    monkeypatch.setattr(synthesis_kernel, "AVAILABLE", False)
    monkeypatch.setattr(filterbank, "AVAILABLE", False)         # scipy's sosfilt for the high-pass
    # the fallback accumulates in float64: equal to float32 rounding for the float32 preset
    assert _rel(simulate(room, 5, preset, host=True).numpy(), ref) < 1e-6


def test_default_path_follows_gradients():
    room = R.shoebox(DIMS, BOX_SRC, BOX_RCV, materials=0.2)
    assert simulate(room, 2).host is not None                      # nothing differentiated: host
    assert simulate(room, 2, synthesis="scatter").host is None     # an explicit Dr.Jit synthesis
    p = default_params(room)
    dr.enable_grad(p["absorption"])
    res = simulate(room, 2, params=p)
    assert res.host is None and dr.grad_enabled(res.signal)        # differentiated: Dr.Jit
    with pytest.raises(ValueError, match="AD-attached"):
        simulate(room, 2, params=p, host=True)
    assert simulate(room, 2, conventions(kernel="frequency")).host is None
    with pytest.raises(ValueError, match="frequency"):
        simulate(room, 2, conventions(kernel="frequency"), host=True)


def test_host_band_tables_follow_material_changes():
    """The host path's band tables are kept per materials: a material changed through ``room.params``
    between two calls (flat -> octave bands) gives the Dr.Jit path's RIR, not the first call's."""
    room = R.shoebox(DIMS, BOX_SRC, BOX_RCV, materials=0.2)
    flat = simulate(room, 3, host=True)
    room.params["floor.absorption"] = np.array(BANDED)
    banded = simulate(room, 3, host=True)
    ref = simulate(room, 3, host=False)
    assert (flat.bands, banded.bands, ref.bands) == (1, 7, 7)
    assert _rel(banded.numpy(), ref.numpy()) < 1e-6
    assert _rel(banded.numpy(), flat.numpy()) > 1e-3
