"""Room impulse responses by the image-source method: find the specular paths (shoebox lattice or
polyhedral images with ray-traced visibility), then synthesize the pressure signal.

``simulate(room, order, conventions=...)`` returns a :class:`RIR` whose ``signal`` is a Dr.Jit float64
array. It reads the room's named parameters ``room.params`` (:mod:`scenes.room_parameters`:
``<wall>.absorption``, ``<wall>.scattering``, ``acoustic.sources``, ``acoustic.receivers``,
``acoustic.dims`` | ``acoustic.vertex_positions``): set them through ``room.params`` (validated) and
``dr.enable_grad(room.params[name])`` to differentiate the signal with respect to them.

``params=`` may instead pass the packed inputs (:func:`default_params`), a dict whose differentiable
entries the signal is attached to:

* ``"source"``, ``"receiver"``: mi.Vector3d positions;
* ``"dims"``: mi.Vector3d (Lx, Ly, Lz) of a shoebox room;
* ``"vertices"``: mi.Float64 of the room mesh vertex positions (V * 3, row-major) of a polyhedral room
  (wall planes move with them; visibility is re-evaluated but not differentiated: moving a wall edge
  across a path, i.e. the visibility boundary term, is ignored);
* ``"absorption"``: mi.Float64 (W * 7) energy absorption per wall and octave band (125 Hz - 8 kHz);
* ``"scattering"``: mi.Float64 (W * 7) scattering coefficients (used with ``tail=``: image sources keep
  sqrt(1 - s) per reflection, the rays carry the rest).

Per band b and path i, the pressure amplitude is
``a_bi = sign^k_i prod_w (1 - alpha_wb)^(h_iw / 2) exp(-m_b d_i / 2) / (d_i or 4 pi d_i)``, with h_iw the hits
of wall w and m_b the air absorption. With frequency-dependent materials or air absorption the bands
are synthesized separately and combined by the octave filter bank (:mod:`.filterbank`); otherwise one
broadband signal is built from the first band's coefficients.
"""
from __future__ import annotations

import dataclasses
import math

import drjit as dr
import numpy as np

from penumbra.renderer import memory
from penumbra.scenes.room import Room, RoomError
from penumbra.scenes.room_parameters import DIMS, RECEIVERS, SOURCES, VERTICES

from . import filterbank, shoebox as _shoebox, tail as _tail
from .bands import band_values, log_reflection
from ._jit import bucket, upload
from .conventions import conventions as _conventions
from .synthesis import arrival_samples, arrival_samples_np, prepare, rir_length, synthesize, synthesize_frequency


@dataclasses.dataclass
class RIR:
    """A simulated impulse response: ``signal`` (Dr.Jit Float64 (N,)), or ``host`` (NumPy, the no-gradient
    path) from which ``signal`` is uploaded on first read (callers that only want NumPy skip the upload)."""
    device: object          # Dr.Jit Float64 (N,), or None until ``signal`` is first read when ``host`` is set
    fs: int
    n_paths: int
    conventions: object
    bands: int
    escaped_rays: int = 0   # late-tail rays that left through the mesh's holes (counted as absorbed)
    host: np.ndarray | None = None   # the signal as computed on the host (no-gradient path), else None

    @property
    def signal(self):
        """The signal as a Dr.Jit Float64 array (uploaded from ``host`` on first read)."""
        if self.device is None:
            self.device = upload(_mi().Float64, self.host)
        return self.device

    def numpy(self) -> np.ndarray:
        if self.host is not None:
            return self.host.copy()
        return np.array(self.signal, dtype=np.float64)


def _mi():
    import mitsuba as mi
    from penumbra.renderer import ensure_variant
    ensure_variant()
    return mi


def _v3(x):
    mi = _mi()
    # opaque: a position or size that changes between calls must not become a kernel literal (each new
    # value would compile new kernels)
    return mi.Vector3d(*[dr.opaque(mi.Float64, float(v)) for v in np.asarray(x, np.float64).reshape(3)])


def default_params(room: Room, source: int = 0, receiver: int = 0) -> dict:
    """The integrator's packed inputs as fresh, detached Dr.Jit copies of the room's values (keys
    ``source``, ``receiver``, ``absorption``, ``scattering``, ``dims`` | ``vertices``; see the module
    docstring). ``simulate(room, params=this_dict)`` validates them by the rules of ``room.params``.
    The named parameters ``room.params`` are the primary interface; this packed form serves callers that
    differentiate with respect to all walls' coefficients as one array."""
    mi = _mi()
    p = {"source": _v3(room.sources[source]), "receiver": _v3(room.receivers[receiver]),
         "absorption": mi.Float64(room.absorption().ravel()),
         "scattering": mi.Float64(room.scattering().ravel())}
    if room.box is not None:
        p["dims"] = _v3(room.box)
    else:
        p["vertices"] = mi.Float64(room.vertices.ravel())
    return p


def scene_inputs(room: Room, params, source: int = 0, receiver: int = 0) -> dict:
    """The integrator's packed inputs read from the room's named parameters ``params`` (``room.params``):
    where the caller enabled gradients on a parameter, the packed value is built from it by Dr.Jit
    operations (gather, concatenation), so gradients flow back to it; elsewhere a constant from the
    room's NumPy values (which ``params`` keeps equal to its own)."""
    mi = _mi()

    def point(name, index, rows):
        v = params[name]
        return dr.gather(mi.Vector3d, v, mi.UInt32(index)) if dr.grad_enabled(v) else _v3(rows[index])

    def per_wall(field, host):
        vals = [params[f"{w}.{field}"] for w in room.wall_names]
        return dr.concat(vals) if any(dr.grad_enabled(v) for v in vals) else mi.Float64(host.ravel())

    p = {"source": point(SOURCES, source, room.sources), "receiver": point(RECEIVERS, receiver, room.receivers),
         "absorption": per_wall("absorption", room.absorption()),
         "scattering": per_wall("scattering", room.scattering())}
    if room.box is not None:
        v = params[DIMS]
        p["dims"] = v if dr.grad_enabled(v) else _v3(room.box)
    else:
        p["vertices"] = params[VERTICES]
    return p


def band_count(room: Room) -> int:
    """1 if every material is frequency-flat and air absorption is off, else floor(log2(fs / 125))."""
    a = room.absorption()
    flat = bool(np.all(a == a[:, :1]))
    if flat and not np.any(room.air_coefficients() > 0):
        return 1
    return len(filterbank.band_centers(room.fs))


# Peak bytes per image source of the shoebox lattice (measured 411 B at order 80: 695,681 images,
# 286 MiB), and per synthesized sample and band (float64 bands, their padded copies and the
# filter bank's output).
BYTES_PER_IMAGE = 512
BYTES_PER_SAMPLE_BAND = 64


def lattice_size(order: int) -> int:
    """Image sources of a shoebox up to ``order`` reflections: the integer points with
    |i| + |j| + |k| <= order, (2N + 1)(2N^2 + 2N + 3) / 3."""
    return (2 * order + 1) * (2 * order * order + 2 * order + 3) // 3


def find_paths(room: Room, order: int, params: dict, method: str = "auto", host: bool = False, **kw):
    """(image positions mi.Vector3d, wall hits (M, W) int array, path orders (M,)) for the source; with
    ``host=True`` the positions are a NumPy (M, 3) array computed on the host from NumPy ``params``."""
    if method == "auto":
        method = "lattice" if room.box is not None else "polyhedral"
    if method == "lattice":
        if room.box is None:
            raise RoomError("the shoebox lattice needs a shoebox room (pn.shoebox); use method='polyhedral'")
        if host:
            pos = _shoebox.image_positions_np(order, params["dims"], params["source"])
        else:
            pos = _shoebox.image_positions(order, params["dims"], params["source"])
        return pos, _shoebox.lattice_hits(order), np.abs(_shoebox.lattice(order)).sum(axis=1)
    if method == "polyhedral":
        from . import polyhedral
        return polyhedral.find_paths(room, order, params, host=host, **kw)
    raise ValueError(f"method must be 'auto', 'lattice' or 'polyhedral', got {method!r}")


def wall_hit_arrays(hits: np.ndarray) -> list:
    """Per wall, the hit counts ``hits[:, w]`` (M, W) as mi.Float64 columns; the columns of a recent call
    with the same counts are reused (a box given as a mesh has the same lattice on every call)."""
    mi = _mi()
    hits = np.ascontiguousarray(hits)
    key = (mi.variant(), hits.shape, hits.tobytes())
    cols = _HIT_COLUMNS.pop(key, None)
    if cols is None:
        cols = [upload(mi.Float64, hits[:, w].astype(np.float64)) for w in range(hits.shape[1])]
    _HIT_COLUMNS[key] = cols
    while len(_HIT_COLUMNS) > 4:
        _HIT_COLUMNS.pop(next(iter(_HIT_COLUMNS)))
    return cols


_HIT_COLUMNS: dict = {}


def band_amplitudes(dist, hit_cols, used, cols, scols, air, spread, exp, zeros):
    """Per band b, the pressure amplitudes of the paths (see the module docstring):
    ``spread * exp(sum_w h_w (cols[b][w] + scols[b][w])) * exp(-air[b] d / 2)`` with the hit columns
    ``hit_cols[w]`` of the walls in ``used`` and ``scols`` None without a tail. The same operations on
    Dr.Jit (``exp=dr.exp``) or NumPy arrays (``exp=np.exp``); ``zeros(n)`` makes the accumulator."""
    amps = []
    for b in range(len(cols)):
        s = zeros(len(dist) if isinstance(dist, np.ndarray) else dr.width(dist))
        for w in used:
            s = s + hit_cols[w] * cols[b][w]
        if scols is not None:  # hybrid: the scattered share of each reflection goes to the rays
            for w in used:
                s = s + hit_cols[w] * scols[b][w]
        a = exp(s) * spread
        if air[b] > 0:
            a = a * exp(-0.5 * float(air[b]) * dist)
        amps.append(a)
    return amps


def host_values(room: Room, params: dict, user: dict | None = None, source: int = 0, receiver: int = 0) -> dict:
    """NumPy copies of the parameters: read back from the device for the entries the caller passed in
    ``user``, taken from the room otherwise (no device round trip)."""
    room_vals = {"source": room.sources[source], "receiver": room.receivers[receiver],
                 "absorption": room.absorption().ravel(), "scattering": room.scattering().ravel(),
                 "dims": room.box, "vertices": room.vertices.ravel()}
    user = params if user is None else user
    return {k: (np.array(dr.detach(params[k]), dtype=np.float64) if k in user else
                np.asarray(room_vals[k], np.float64)).reshape(-1) for k in params if k in room_vals}


def check_inputs(room: Room, host: dict, source: int = 0, receiver: int = 0):
    """Validate packed inputs (NumPy, see :func:`host_values`) by the rules of ``room.params``; a
    violation raises :class:`RoomError` naming the input."""
    from penumbra.scenes import ParameterError
    try:
        room.params.check_packed(host, source, receiver)
    except ParameterError as e:
        raise RoomError(str(e)) from None


def tail_options(room, tail):
    """The late tail's options for ``simulate(tail=...)``: None without a tail, else the defaults updated
    by ``tail`` (a dict, or True) with ``t_max`` filled in from the room's Sabine time."""
    if tail is None or tail is False:
        return None
    opts = {"n_rays": 20000, "t_max": None, "radius": 0.5, "seed": 0, "bin_ms": 4.0}
    if isinstance(tail, dict):
        unknown = set(tail) - set(opts)
        if unknown:
            raise ValueError(f"unknown tail option(s) {sorted(unknown)}; options: {sorted(opts)}")
        opts.update(tail)
    if opts["t_max"] is None:
        opts["t_max"] = float(min(3.0, 1.2 * np.max(room.sabine())))
    return opts


def simulate(room: Room, order: int = 10, conventions=None, params=None, source: int = 0,
             receiver: int = 0, method: str = "auto", length: int | None = None, tail=None,
             synthesis: str = "gather", deposits=None, host: bool | None = None, **kw) -> RIR:
    """Image-source RIR of ``room`` up to ``order`` reflections (see the module docstring).

    ``tail``: None (image sources only), True, or a dict of options (``n_rays`` 20000, ``t_max`` seconds
    (default 1.2 x the largest Sabine T60, at most 3 s), ``radius`` 0.5 m, ``seed``, ``bin_ms`` 4) adds the
    ray-traced late reverberation of :mod:`.tail` (hybrid: image sources scaled by sqrt(1 - s) per
    reflection, rays counted after a scattered or the (order + 1)-th specular reflection).

    ``synthesis``: the time-domain synthesis implementation (:func:`.synthesis.synthesize`'s ``method``:
    ``"gather"``, ``"gather_lanes"`` or the plain-AD reference ``"scatter"``; same values).

    ``deposits``: the tail's receiver crossings already traced for this source, receiver and geometry
    with the same options (:func:`.tail.trace`; :func:`.batch.rirs` traces one ray set per source for
    all its receivers); None traces them here.

    ``host``: where the image positions, amplitudes, synthesis and filters are computed. None (default):
    on the host (NumPy, the synthesis in numba when installed: :mod:`.synthesis_kernel`) when no input
    is AD-attached, the kernel is a time-domain one and ``synthesis="gather"``; otherwise with Dr.Jit
    (differentiable). True requires the host path, False forces Dr.Jit. Both give the same RIR (to
    rounding); the host path launches no Dr.Jit kernel outside the ray tail and the ray search."""
    _mi()                         # the Mitsuba variant, before room.params makes Dr.Jit values
    conv = _conventions(conventions)
    if not (isinstance(order, (int, np.integer)) and order >= 0):
        raise ValueError(f"order must be a non-negative integer, got {order!r}")
    if params is None or not isinstance(params, dict):
        if params is not None and params is not room.params:
            raise ValueError("params must be the room's own parameters (room.params) or a dict of packed "
                             "inputs (default_params)")
        grad = room.params.any_grad_enabled()
        on_host = _host_path(host, grad, conv, synthesis)
        if on_host:
            p = None
            host_in = host_values(room, dict.fromkeys(_PACKED_KEYS), {}, source, receiver)
        else:
            p = scene_inputs(room, room.params, source, receiver)
            host_in = host_values(room, p, {}, source, receiver)   # assignments to room.params were validated
    else:
        grad = any(dr.grad_enabled(v) for v in params.values())
        on_host = _host_path(host, grad, conv, synthesis)
        keys = dict.fromkeys(_PACKED_KEYS)
        keys.update(params)
        host_in = host_values(room, keys, params, source, receiver)
        check_inputs(room, {k: host_in[k] for k in params if k in host_in}, source, receiver)
        if not on_host:
            p = default_params(room, source, receiver)
            p.update(params)
    if room.box is None:
        host_in.pop("dims", None)
    else:
        host_in.pop("vertices", None)
    if method == "lattice" or (method == "auto" and room.box is not None):
        memory.guard(f"simulate(order={order}) of a shoebox ({lattice_size(int(order))} image sources)",
                     lattice_size(int(order)) * BYTES_PER_IMAGE, "order")
    if on_host:
        return _simulate_host(room, int(order), conv, host_in, method, length, tail, deposits, kw)
    return _simulate_drjit(room, int(order), conv, p, host_in, method, length, tail, synthesis, deposits, kw)


_PACKED_KEYS = ("source", "receiver", "absorption", "scattering", "dims", "vertices")


def _host_path(host, grad: bool, conv, synthesis: str) -> bool:
    """Whether :func:`simulate` runs on the host (see its ``host`` argument)."""
    if host is None:
        return not grad and conv.kernel != "frequency" and synthesis == "gather"
    if host and grad:
        raise ValueError("host=True computes no gradients, but an input is AD-attached (use host=None)")
    if host and conv.kernel == "frequency":
        raise ValueError("host=True takes the time-domain kernels 'hann_sinc' and 'sinc_lut', not 'frequency'")
    return bool(host)


def _band_setup(room: Room, topts):
    """(walls W, bands B, air absorption coefficient per band) of a simulation."""
    W, B = room.n_walls, band_count(room)
    if topts is not None:
        B = len(filterbank.band_centers(room.fs))
    air = room.air_coefficients()
    if B > 7:
        air = np.concatenate([air, air[6] + np.arange(1, B - 6) * (air[6] - air[5])])
    return W, B, air


def host_band_tables(room: Room, absorption: np.ndarray, scattering: np.ndarray, topts):
    """(walls W, bands B, air absorption per band, per-band per-wall log reflection factors, those of the
    scattering or None) of a no-gradient simulation with the NumPy (W * 7) ``absorption`` and
    ``scattering`` (:func:`_band_setup`, :func:`_reflection_columns`), kept for the next calls with the
    same room materials, air absorption, fs, values and tail (they do not depend on the source, the
    receiver or the order)."""
    air = room.air_coefficients()
    key = (room.absorption().tobytes(), air.tobytes(), room.fs, topts is None, absorption.tobytes(),
           None if topts is None else scattering.tobytes())
    tables = _BAND_TABLES.get(key)
    if tables is None:
        W, B, air = _band_setup(room, topts)
        air = air.copy()
        air.flags.writeable = False           # shared by the calls that hit the cache
        cols, scols = _reflection_columns(absorption, scattering, absorption, scattering, W, B, None, topts)
        tables = _BAND_TABLES[key] = (W, B, air, cols, scols)
        while len(_BAND_TABLES) > 8:
            _BAND_TABLES.pop(next(iter(_BAND_TABLES)))
    return tables


_BAND_TABLES: dict = {}


def _check_lengths(d_np, conv, length, topts, fs, c, B):
    """(RIR length N, mask of the arrivals to keep or None for all) from the path lengths ``d_np``; raises
    for coincident source and receiver, a lead-in shorter than half the kernel or a too large RIR."""
    half = conv.taps // 2
    if d_np.min() < 1e-6:
        raise RoomError("the source and the receiver coincide; the direct path has zero length")
    if conv.kernel != "frequency" and conv.lead_in < half:
        raise ValueError(f"lead_in ({conv.lead_in}) must be >= taps // 2 ({half}) for time-domain kernels")
    N = rir_length(d_np.max() * fs / c + conv.lead_in, conv.taps) if length is None else int(length)
    if topts is not None and length is None:
        N = max(N, int(math.ceil(topts["t_max"] * fs)) + conv.lead_in + 1)
    memory.guard(f"simulate() of a {N / fs:.1f} s impulse response ({N} samples x {B} bands)",
                 float(N) * B * BYTES_PER_SAMPLE_BAND, "the order, the room size or fs")
    keep = None
    if length is not None:
        keep = d_np * fs / c + conv.lead_in < N - half - 2
        keep = None if keep.all() else keep
    return N, keep


def _tail_signal(room, order, topts, deposits, absorption, scattering, air, vertices, source_pos, receiver_pos,
                 B, N, conv):
    """(the tail's pressure signal (Dr.Jit, N), escaped rays) of :mod:`.tail`; ``absorption`` and
    ``scattering`` are Dr.Jit (W * 7), the positions NumPy."""
    fs, W = room.fs, room.n_walls
    dep = deposits
    if dep is None:
        dep = _tail.trace(room, int(order), topts["n_rays"], topts["t_max"], topts["radius"], topts["seed"],
                          source=source_pos, receiver=receiver_pos, vertices=vertices)
    bin_s = topts["bin_ms"] * 1e-3
    n_bins = int(math.ceil(topts["t_max"] / bin_s))
    H = _tail.histograms(dep, absorption, air, fs, n_bins, bin_s, B, W, scattering=scattering)
    return _tail.noise_tail(H, fs, N, n_bins, bin_s, conv.lead_in, topts["seed"]), dep.escaped


def _simulate_host(room, order, conv, host_in, method, length, tail, deposits, kw) -> RIR:
    """:func:`simulate` without gradients on the host: NumPy image positions and amplitudes, the
    synthesis of :mod:`.synthesis_kernel`, the filter bank and high-pass in NumPy/SciPy."""
    from . import synthesis_kernel
    fs, c = room.fs, room.c
    pos, hits, orders = find_paths(room, order, host_in, method, host=True, **kw)
    diff = pos - host_in["receiver"].reshape(1, 3)
    dist = np.sqrt(diff[:, 0] * diff[:, 0] + diff[:, 1] * diff[:, 1] + diff[:, 2] * diff[:, 2])
    topts = tail_options(room, tail)
    W, B, air, cols, scols = host_band_tables(room, host_in["absorption"], host_in["scattering"], topts)
    spread = 1.0 / dist if conv.amplitude == "1/r" else 1.0 / (4.0 * math.pi * dist)
    if conv.reflection_sign < 0:
        spread = spread * np.where(orders % 2 == 1, -1.0, 1.0)
    hits_f = hits.astype(np.float64)
    hit_cols = [hits_f[:, w] for w in range(W)]
    used = np.flatnonzero(hits.any(axis=0)).tolist()
    amps = np.array(band_amplitudes(dist, hit_cols, used, cols, scols, air, spread, np.exp, np.zeros))
    sample = arrival_samples_np(dist, fs, c, conv)
    N, keep = _check_lengths(dist, conv, length, topts, fs, c, B)
    if keep is not None:
        sample, amps = sample[keep], amps[:, keep]
    Npad = bucket(N)
    if conv.delay_precision == "float32":
        sample, amps = sample.astype(np.float32), amps.astype(np.float32)
    bands = synthesis_kernel.synthesize(sample, amps, Npad, conv)
    sig = filterbank.band_filter_np(bands[:, :N], fs).sum(axis=0) if B > 1 else bands[0, :N].copy()
    escaped = 0
    if topts is not None:
        V = host_in["vertices"].reshape(-1, 3) if "vertices" in host_in else \
            room.vertices / room.box * host_in["dims"].reshape(-1)
        mi = _mi()
        t, escaped = _tail_signal(room, order, topts, deposits, mi.Float64(host_in["absorption"]),
                                  mi.Float64(host_in["scattering"]), air, V, host_in["source"],
                                  host_in["receiver"], B, N, conv)
        sig = sig + np.array(t, dtype=np.float64)
    if conv.highpass is not None:
        sig = filterbank.sosfiltfilt_np(filterbank.highpass_sos(fs, float(conv.highpass[0]), int(conv.highpass[1])),
                                        sig)
    return RIR(None, int(fs), len(dist), conv, B, escaped, host=sig)


def _reflection_columns(alpha, scat, a_np, s_np, W, B, mi, topts):
    """Per band, per wall log reflection factors 0.5 log(1 - alpha), and those of the scattering with a
    tail (else None), from (W * 7) values ``alpha``, ``scat`` (Dr.Jit, or NumPy with ``mi`` None) and
    their NumPy copies ``a_np``, ``s_np`` (:func:`.bands.band_values`: Python floats unless AD-attached)."""
    if B <= 7:
        cols = band_values(log_reflection(alpha), W, B, mi, log_reflection(a_np))
    else:  # extrapolated absorption -> log reflection
        cols = [[log_reflection(a) for a in col] for col in band_values(alpha, W, B, mi, a_np)]
    scols = None
    if topts is not None:
        scols = band_values(log_reflection(scat), W, B, mi, log_reflection(s_np))
    return cols, scols


def _simulate_drjit(room, order, conv, p, host_in, method, length, tail, synthesis, deposits, kw) -> RIR:
    """:func:`simulate` with Dr.Jit (differentiable in the AD-attached entries of ``p``)."""
    mi = _mi()
    fs, c = room.fs, room.c
    pos, hits, orders = find_paths(room, order, p, method, **kw)
    rcv = p["receiver"]
    diff = pos - rcv
    dist = dr.norm(diff)
    topts = tail_options(room, tail)
    W, B, air = _band_setup(room, topts)
    cols, scols = _reflection_columns(p["absorption"], p["scattering"], host_in["absorption"],
                                      host_in["scattering"], W, B, mi, topts)
    spread = 1.0 / dist if conv.amplitude == "1/r" else 1.0 / (4.0 * math.pi * dist)
    if conv.reflection_sign < 0:
        spread = spread * upload(mi.Float64, np.where(orders % 2 == 1, -1.0, 1.0))
    if method == "lattice" or (method == "auto" and room.box is not None):
        hit_arr = _shoebox.device_lattice(order)[3]      # uploaded once per order
    else:
        hit_arr = wall_hit_arrays(hits)
    used = [w for w in range(W) if hits[:, w].any()]
    amps = band_amplitudes(dist, hit_arr, used, cols, scols, air, spread, dr.exp,
                           lambda n: dr.zeros(mi.Float64, n))
    sample = arrival_samples(dist, fs, c, conv)
    if conv.kernel != "frequency":
        sample, amps = prepare(sample, amps, conv)     # one kernel: images, distances, amplitudes
    dr.eval(dist, sample, amps)
    d_np = np.array(dr.detach(dist), dtype=np.float64)
    N, keep = _check_lengths(d_np, conv, length, topts, fs, c, B)
    if keep is not None:
        idx = upload(mi.UInt32, np.flatnonzero(keep).astype(np.uint32))
        sample = dr.gather(type(sample), sample, idx)
        amps = [dr.gather(type(a), a, idx) for a in amps]
    if conv.kernel == "frequency":
        bands = synthesize_frequency(sample, amps, N, fs, conv)
        Npad = N
    else:
        Npad = bucket(N)
        bands = synthesize(sample, amps, Npad, fs, conv, method=synthesis)
    if B > 1:
        sig = filterbank.combine_bands(bands, fs, N, Npad)
    elif Npad != N:
        sig = filterbank.crop(bands, N, Npad)
    else:
        sig = bands
    escaped = 0
    if topts is not None:
        if "vertices" in p:
            V = np.array(dr.detach(p["vertices"]), dtype=np.float64).reshape(-1, 3)
        else:  # shoebox: the box mesh scaled to the (possibly changed) dimensions
            V = room.vertices / room.box * np.array(dr.detach(p["dims"]), dtype=np.float64).reshape(-1)
        t, escaped = _tail_signal(room, order, topts, deposits, p["absorption"], p["scattering"], air, V,
                                  np.array(dr.detach(p["source"]), dtype=np.float64).reshape(-1),
                                  np.array(dr.detach(p["receiver"]), dtype=np.float64).reshape(-1), B, N, conv)
        sig = sig + t
    if conv.highpass is not None:
        sig = filterbank.highpass(sig, fs, float(conv.highpass[0]), int(conv.highpass[1]))
    return RIR(sig, int(fs), int(dr.width(dist)), conv, B, escaped)


def rir(room: Room, order: int = 10, conventions=None, **kw) -> np.ndarray:
    """The RIR as a NumPy float64 array (no gradients)."""
    with dr.suspend_grad():
        return simulate(room, order, conventions, **kw).numpy()
