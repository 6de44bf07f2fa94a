"""Gradients (reverse and forward mode) against central finite differences (tests/harness) of an
independent float64 NumPy model (tests/harness/shoebox_reference.py) for every parameter kind:
source and receiver positions, room dimensions, wall vertex positions (polyhedral rooms) and
absorption per wall and band; plus metric gradients (sign and magnitude). Each check states its FD
step and its entrywise tolerance ``|AD - FD| <= rtol |FD| + rtol_max max|FD|``."""
import drjit as dr
import mitsuba as mi
import numpy as np
import pytest

import penumbra.scenes.room as R
from penumbra.integrators.acoustic import default_params, simulate
from penumbra.integrators.acoustic import metrics as M
from tests.harness import Tolerance, central_differences, compare, directional_derivatives
from tests.harness.shoebox_reference import images, shoebox_rir
from tests.scenes_lib import ROOM_BANDED as BANDED
from tests.scenes_lib import ROOM_DIMS as DIMS
from tests.scenes_lib import ROOM_FLAT as FLAT
from tests.scenes_lib import ROOM_RCV as RCV
from tests.scenes_lib import ROOM_SRC as SRC
from tests.scenes_lib import shoebox_room

ORDER, LENGTH, FS = 3, 1400, 16000
WEIGHTS = np.random.default_rng(7).standard_normal(LENGTH)
# The FD reference is the NumPy model (and, for metric gradients, the metric code applied to its output).
REFERENCE_CODE = ("tests.harness.shoebox_reference",)
METRIC_CODE = REFERENCE_CODE + ("penumbra.integrators.acoustic.metrics",)


def _room(absorption):
    return shoebox_room(absorption, fs=FS)


def _loss_ref(dims=DIMS, src=SRC, rcv=RCV, absorption=FLAT):
    return float(np.dot(shoebox_rir(dims, src, rcv, absorption, ORDER, fs=FS, length=LENGTH), WEIGHTS))


def _loss_dr(room, params, **kw):
    res = simulate(room, ORDER, "penumbra", params=params, length=LENGTH, **kw)
    return dr.sum(res.signal * mi.Float64(WEIGHTS))


def _fd(f, x0, h, directions=None, **config):
    """Central differences of the reference ``f`` along ``directions`` (default the unit axes), step
    ``h``; cached on disk when ``config`` names what ``f`` computes."""
    return central_differences(f, x0, h, directions, config=config or None,
                               depends=METRIC_CODE if "metric" in config else REFERENCE_CODE)


def _ref_config(what, **extra):
    return {"engine": "acoustic", "what": what, "dims": DIMS, "src": SRC, "rcv": RCV, "order": ORDER, "fs": FS,
            "length": LENGTH, "weights": WEIGHTS, **extra}


def _ad(room, name, mode):
    """Gradient of the loss w.r.t. params[name] (all entries, ``dr.ravel`` order) by reverse mode,
    or by forward mode (one pass per entry)."""
    x0 = default_params(room)[name]
    n = dr.width(x0) * (3 if isinstance(x0, mi.Vector3d) else 1)

    def loss(x):
        return _loss_dr(room, {**default_params(room), name: x})
    return directional_derivatives(loss, x0, np.eye(n), mode)


@pytest.mark.parametrize("mode", ["reverse", "forward"])
@pytest.mark.parametrize("name", ["source", "receiver", "dims"])
def test_position_and_dimension_gradients(name, mode):
    room = _room(FLAT)
    ref = {"source": lambda v: _loss_ref(src=v), "receiver": lambda v: _loss_ref(rcv=v),
           "dims": lambda v: _loss_ref(dims=v)}[name]
    x0 = {"source": SRC, "receiver": RCV, "dims": DIMS}[name]
    fd = _fd(ref, x0, 1e-5, **_ref_config(name, absorption=FLAT))
    ad = _ad(room, name, mode)
    compare(ad, fd).check(Tolerance(rtol=1e-4, rtol_max=1e-6), name)


@pytest.mark.parametrize("mode", ["reverse", "forward"])
def test_flat_absorption_gradient(mode):
    room = _room(FLAT)
    fd = _fd(lambda a: _loss_ref(absorption=a), FLAT, 1e-6, **_ref_config("absorption"))
    ad = _ad(room, "absorption", mode).reshape(6, 7)
    # flat materials: one broadband signal built from band 0, so only band-0 entries matter
    compare(ad[:, 0], fd).check(Tolerance(rtol=1e-4, atol=1e-8), "flat absorption")
    assert np.all(ad[:, 1:] == 0)


def test_banded_absorption_gradient_through_filter_bank():
    room = _room(BANDED)
    fd = _fd(lambda a: _loss_ref(absorption=a.reshape(6, 7)), BANDED.ravel(), 1e-6,
             **_ref_config("banded absorption"))
    ad = _ad(room, "absorption", "reverse")
    compare(ad, fd).check(Tolerance(rtol=1e-4, rtol_max=1e-7), "banded absorption")


@pytest.mark.parametrize("mode,search", [("reverse", "auto"), ("forward", "auto"), ("reverse", "tree")])
def test_wall_vertex_gradient_polyhedral(mode, search):
    """The box as a mesh (prism beam search, or the general image tree) against d/dLx of the shoebox model."""
    box = _room(FLAT)
    poly = R.load_room((box.vertices, box.faces), source=SRC, receiver=RCV, fs=FS,
                       materials={f"room.{w}": 0.0 for w in range(6)})
    # material per wall in the polyhedral room: match the shoebox walls by plane
    planes = poly.wall_triangles()
    mats = []
    for w in range(6):
        c = poly.vertices[planes[w]].mean(axis=0)
        axis = int(np.argmin([np.ptp(poly.vertices[planes[w]][:, a]) for a in range(3)]))
        side = int(c[axis] > DIMS[axis] / 2)
        mats.append(R.material(float(FLAT[2 * axis + side])))
    poly.materials = mats
    # direction: move the x = Lx wall (all its vertices) along +x  ==  d/dLx of the shoebox model
    V = poly.vertices
    direction = np.zeros_like(V)
    direction[np.isclose(V[:, 0], DIMS[0]), 0] = 1.0
    fd = _fd(lambda d: _loss_ref(dims=d), DIMS, 1e-5, [[1.0, 0, 0]], **_ref_config("dims", absorption=FLAT,
                                                                                 direction="x"))
    p = default_params(poly)
    x = p["vertices"]
    dr.enable_grad(x)
    if mode == "reverse":
        loss = _loss_dr(poly, p, search=search)
        dr.backward(loss)
        ad = float(np.dot(np.array(dr.grad(x)), direction.ravel()))
    else:
        dr.set_grad(x, mi.Float64(direction.ravel()))
        loss = _loss_dr(poly, p, search=search)
        ad = float(dr.forward_to(loss)[0])
    compare([ad], fd).check(Tolerance(rtol=1e-4, atol=1e-12), "wall vertices")


def test_pyroomacoustics_preset_absorption_gradient_vs_pyroomacoustics_fd():
    """Reverse-mode gradient of the preset (sinc table, high-pass) against central differences of
    pyroomacoustics itself (float32 inside, so a large step and a 2 % tolerance)."""
    pra = pytest.importorskip("pyroomacoustics")
    dims, src, rcv, order = [6.0, 4.0, 3.0], [1.1, 1.3, 1.2], [4.3, 2.9, 1.7], 4

    def pra_loss(a):
        room = pra.ShoeBox(dims, fs=FS, materials=pra.Material(float(a)), max_order=order)
        room.add_source(src)
        room.add_microphone(rcv)
        room.compute_rir()
        h = room.rir[0][0]
        return float(np.dot(h[:LENGTH], WEIGHTS[:len(h[:LENGTH])]))

    a0, h = 0.3, 1e-2
    fd = central_differences(lambda a: pra_loss(a[0]), [a0], h,
                             config={"engine": "pyroomacoustics", "version": pra.__version__, "dims": dims, "src": src,
                                     "rcv": rcv, "order": order, "fs": FS, "weights": WEIGHTS})
    room = R.shoebox(dims, src, rcv, materials=a0, fs=FS)
    p = default_params(room)
    dr.enable_grad(p["absorption"])
    sig = simulate(room, order, "pyroomacoustics", params=p).signal
    n = min(dr.width(sig), LENGTH)
    loss = dr.sum(dr.gather(mi.Float64, sig, dr.arange(mi.UInt32, n)) * mi.Float64(WEIGHTS[:n]))
    dr.backward(loss)
    ad = float(np.array(dr.grad(p["absorption"])).reshape(6, 7)[:, 0].sum())  # all walls move together
    compare([ad], fd).check(Tolerance(rtol=2e-2, atol=1e-12), "absorption vs pyroomacoustics")


# ---------------------------------------------------------------------------------------------
# metric gradients

def _metric_ad(fn, absorption, order=12):
    room = R.shoebox(DIMS, SRC, RCV, materials=float(absorption[0]), fs=FS)
    p = default_params(room)
    p["absorption"] = mi.Float64(np.repeat(absorption, 7))
    dr.enable_grad(p["absorption"])
    sig = simulate(room, order, "penumbra", params=p).signal
    val = fn(sig)
    dr.backward(val)
    return float(np.array(val)[0]), np.array(dr.grad(p["absorption"])).reshape(6, 7)[:, 0]


def _metric_fd(fn, absorption, order=12, h=1e-5, metric=None):
    def f(a):
        return float(np.array(fn(shoebox_rir(DIMS, SRC, RCV, a, order, fs=FS)))[0])
    config = {} if metric is None else {"metric": metric, "dims": DIMS, "src": SRC, "rcv": RCV, "order": order,
                                        "fs": FS}
    return _fd(f, absorption, h, **config)


@pytest.mark.parametrize("metric", ["T30_smooth", "EDT_smooth", "C80", "Ts", "T20"])
def test_metric_gradients_vs_fd(metric):
    fn = {"T30_smooth": lambda h: M.t30(h, FS, smooth=True, tau=2.0),
          "EDT_smooth": lambda h: M.edt(h, FS, smooth=True, tau=2.0),
          "T20": lambda h: M.t20(h, FS),
          "C80": lambda h: M.c80(h, FS), "Ts": lambda h: M.center_time(h, FS)}[metric]
    # strong absorption: the decay reaches -35 dB (~70 ms) before the order-15 image set thins out
    a = np.full(6, 0.6)
    val, ad = _metric_ad(fn, a, order=15)
    fd = _metric_fd(fn, a, order=15, metric=metric)
    compare(ad, fd).check(Tolerance(rtol=2e-3, rtol_max=1e-3), metric)
    # uniform increase of absorption (one wall alone may lengthen the late decay in a non-diffuse field,
    # e.g. absorbing floor and ceiling leaves a flutter between the side walls)
    if metric.startswith(("T30", "EDT", "T20", "Ts")):
        assert ad.sum() < 0, "more absorption must shorten the decay"
    if metric == "C80":
        assert ad.sum() > 0, "more absorption must raise clarity"


@pytest.mark.slow
def test_sti_smooth_gradient_sign_and_fd():
    a = np.full(6, 0.2)

    def fn(h):
        hl = dr.zeros(mi.Float64, int(1.7 * FS)) if isinstance(h, dr.ArrayBase) else np.zeros(int(1.7 * FS))
        if isinstance(h, dr.ArrayBase):
            dr.scatter(hl, h, dr.arange(mi.UInt32, dr.width(h)))
        else:
            hl[:len(h)] = h
        return M.sti(hl, FS, smooth=True)

    val, ad = _metric_ad(fn, a, order=8)
    fd = _metric_fd(fn, a, order=8, metric="STI_smooth")
    assert 0 < val < 1
    assert ad.sum() > 0, "more absorption must raise intelligibility"
    compare(ad, fd).check(Tolerance(rtol=5e-3, rtol_max=1e-3), "STI")


@pytest.mark.parametrize("preset", ["penumbra", "pyroomacoustics"])
@pytest.mark.parametrize("fast", ["gather", "gather_lanes"])
def test_gather_synthesis_matches_plain_scatter_autodiff(preset, fast):
    """The fast gather-form synthesis (custom derivatives; primal as one SIMD packet or one lane per
    sample) equals the plain Dr.Jit scatter form (automatic derivatives), values and reverse-mode
    gradients."""
    room = _room(BANDED)

    def run(synthesis):
        p = default_params(room)
        for v in p.values():
            dr.enable_grad(v)
        sig = simulate(room, 4, preset, params=p, synthesis=synthesis).signal
        dr.backward(dr.sum(sig * sig))
        return np.array(sig), [np.array(dr.grad(v)).ravel() for v in p.values()]

    fast = run(fast)
    slow = run("scatter")
    assert np.allclose(fast[0], slow[0], rtol=1e-6, atol=1e-7 * np.abs(slow[0]).max())
    for a, b in zip(fast[1], slow[1]):
        assert np.allclose(a, b, rtol=1e-4, atol=1e-5 * np.abs(b).max())


def _freq_ref(rcv, order=2, N=900):
    """NumPy reference of the 'frequency' kernel: irfft of sum_i a_i exp(-2 pi i f s_i / n)."""
    pos, hits = images(DIMS, SRC, order)
    d = np.linalg.norm(pos - np.asarray(rcv), axis=1)
    a = np.prod(np.sqrt(1 - FLAT)[None, :] ** hits, axis=1) / d
    s = d * FS / 343.0 + 40
    n = 2 ** int(np.ceil(np.log2(2 * N)))
    f = np.arange(n // 2 + 1)
    H = (a[:, None] * np.exp(-2j * np.pi * f[None, :] * s[:, None] / n)).sum(axis=0)
    return np.fft.irfft(H, n)[:N]


@pytest.mark.parametrize("mode", ["reverse", "forward"])
def test_frequency_kernel_forward_and_receiver_gradient(mode):
    from penumbra.integrators.acoustic import conventions
    room = _room(FLAT)
    N = 900
    w = np.random.default_rng(5).standard_normal(N)
    conv = conventions("penumbra", kernel="frequency")
    p = default_params(room)
    dr.enable_grad(p["receiver"])
    if mode == "forward":
        dr.set_grad(p["receiver"], mi.Vector3d(0.3, -0.5, 0.8))
    sig = simulate(room, 2, conv, params=p, length=N).signal
    assert np.allclose(np.array(sig), _freq_ref(RCV, N=N), atol=1e-9)
    loss = dr.sum(sig * mi.Float64(w))
    fd = _fd(lambda r: float(np.dot(_freq_ref(r, N=N), w)), RCV, 1e-6)
    if mode == "reverse":
        dr.backward(loss)
        g = dr.grad(p["receiver"])
        compare([g[a][0] for a in range(3)], fd).check(Tolerance(rtol=1e-5, atol=1e-8), "receiver")
    else:
        jvp = float(np.dot(fd, [0.3, -0.5, 0.8]))
        compare([float(dr.forward_to(loss)[0])], [jvp]).check(Tolerance(rtol=1e-5, atol=1e-12), "receiver")


def test_center_time_receiver_gradient_vs_fd():
    """d Ts / d receiver (the room-design receiver study's gradient) against central differences of the
    independent NumPy model: correct in sign and size although Ts(r) is rough (slopes of ~0.1 s/m)."""
    a = np.full(6, 0.25)
    room = R.shoebox(DIMS, SRC, RCV, materials=0.25, fs=FS)
    p = default_params(room)
    dr.enable_grad(p["receiver"])
    ts = M.center_time(simulate(room, 10, "penumbra", params=p).signal, FS)
    dr.backward(ts)
    ad = np.array([float(np.array(dr.grad(p["receiver"])[k])[0]) for k in range(3)])

    def f(r):
        return float(np.array(M.center_time(shoebox_rir(DIMS, SRC, r, a, 10, fs=FS), FS))[0])
    fd = _fd(f, RCV.astype(float), 1e-5, metric="Ts receiver", absorption=a)
    compare(ad, fd).check(Tolerance(rtol=2e-3, rtol_max=1e-3), "Ts receiver")
