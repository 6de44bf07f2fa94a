"""Scene -> flat arrays: the parameter vector ``theta`` and the affine formulas that map it to
control points, transforms, opacities, widths and paints. Pure NumPy; evaluated on Dr.Jit by
:mod:`integrators.vector.tessellate` so that every named parameter is differentiable."""
from __future__ import annotations

import dataclasses
import fnmatch
import math
import weakref
from dataclasses import dataclass, field

import numpy as np

from penumbra.renderer.arrays import upload

from penumbra.scenes.errors import ParameterError, SceneError
from penumbra.scenes.vector.markers import placement_matrix
from penumbra.scenes.vector.model import IDENTITY, NONNEGATIVE_FIELDS, Gradient, Group, Shape, ShaderPaint, VectorScene

from .affine import compose

PAINT_NONE, PAINT_SOLID, PAINT_LINEAR, PAINT_RADIAL, PAINT_SHADER = 0, 1, 2, 3, 4
SPREAD = {"pad": 0, "reflect": 1, "repeat": 2}


@dataclass(frozen=True)
class Paint:
    """Where a layer's paint lives in ``theta`` (slot offsets; ``None``: not used by this paint
    type). Linear gradients: ``a`` start, ``b`` end; radial: ``a`` centre, ``b`` focal point,
    ``r`` radius; ``offsets`` / ``colors`` the ``n`` stops, ``transform`` the gradient transform.
    Shader paints: ``shader`` and the slot of each of its parameters (``params``: (name, slot)
    pairs), ``transform`` the paint transform."""
    type: int                          # PAINT_SOLID | PAINT_LINEAR | PAINT_RADIAL | PAINT_SHADER
    color: int | None = None
    spread: int = 0                    # SPREAD value
    n: int = 1                         # number of stops
    offsets: int | None = None
    colors: int | None = None
    transform: int | None = None
    a: int | None = None
    b: int | None = None
    r: int | None = None
    shader: object = None
    params: tuple = ()


@dataclass(frozen=True)
class Layer:
    """One drawn layer: the fill or the stroke of shape ``shape`` (index in draw order)."""
    shape: int
    kind: str                          # "fill" | "stroke"
    evenodd: bool                      # fill rule (strokes: non-zero)
    paint: Paint


@dataclass(frozen=True)
class Subpath:
    """One subpath's control points as affine formulas in ``theta``: point ``i`` coordinate ``k``
    is ``sum_t coef[i, k, t] * theta[idx[i, k, t]] + const[i, k]`` (cubic segments: 3n + 1 points)."""
    shape: int
    idx: np.ndarray                    # (n, 2, 3) theta indices
    coef: np.ndarray                   # (n, 2, 3)
    const: np.ndarray                  # (n, 2)
    is_line: np.ndarray                # (segments,) segment is a straight line (flattened to 1 piece)
    closed: bool


@dataclass(frozen=True)
class OpacityNode:
    """A group, or a shape with fill and stroke, whose opacity applies to its layers
    ``[lo, hi)`` together (isolated compositing when it may differ from 1). ``slot``: the opacity's
    offset in ``theta``; ``depth``: nesting depth (0 for top-level nodes).

    A clipped or masked group is always isolated: ``clips`` lists layer ranges of clip shapes (the
    group's clip path, then that clip path's own clip ...), each a coverage factor (1 where any
    layer of the range covers the point); ``mask`` is the layer range of its mask content. A node of
    ``kind`` ``"mask"`` is such mask content: its composite gives the mask value (luminance, or
    alpha when ``mask_alpha``) and its layers are not drawn."""
    slot: int
    lo: int
    hi: int
    depth: int
    clips: tuple = ()
    mask: tuple | None = None
    kind: str = "group"                # "group" | "mask"
    mask_alpha: bool = False

    def shifted(self, slot_shift: int, layer_shift: int) -> OpacityNode:
        """The same node with theta slots and layer indices offset (batch concatenation)."""
        def rng(r):
            return (r[0] + layer_shift, r[1] + layer_shift)
        return OpacityNode(self.slot + slot_shift, self.lo + layer_shift, self.hi + layer_shift, self.depth,
                           tuple(rng(r) for r in self.clips), None if self.mask is None else rng(self.mask),
                           self.kind, self.mask_alpha)

    @property
    def always_isolated(self) -> bool:
        return bool(self.clips) or self.mask is not None or self.kind == "mask"


@dataclass(frozen=True)
class DashRecord:
    """A dashed stroke: shape index, theta offset of its ``dash_array`` (``count`` entries) and of
    its ``dash_offset``."""
    shape: int
    array_slot: int
    count: int
    offset_slot: int


@dataclass
class Compiled:
    width: float
    height: float
    theta0: np.ndarray                 # packed parameter values (+ constant slots)
    slots: dict                        # name -> (offset, shape)
    shapes: list                       # Shape objects in draw order
    chains: np.ndarray                 # (n_shapes, D) theta offsets of transforms, root first
    opac: np.ndarray                   # (n_shapes, D) theta offsets of opacities
    width_slot: np.ndarray             # (n_shapes,) theta offset of the stroke width (or ZERO)
    subpaths: list = field(default_factory=list)  # Subpath records
    arcs: list = field(default_factory=list)      # elliptical arcs: global control-point rows and slots
    nodes: list = field(default_factory=list)     # OpacityNode records of groups and shapes with >= 2 layers
    layers: list = field(default_factory=list)    # Layer records in draw order
    dashes: list = field(default_factory=list)    # DashRecord of every dashed stroke
    placements: object = None                     # Placements of marker groups (None: no markers)
    identity_slot: int = 0
    one_slot: int = 0
    zero_slot: int = 0
    clear_slot: int = 0                # four zeros: the (transparent) colour of clip layers
    moves: np.ndarray = None           # (theta size,) bool: the slot belongs to a parameter that moves edges


#: compiled scenes: scene -> (its :func:`structure_key`, :class:`Compiled`, parameter readers)
_COMPILED = weakref.WeakKeyDictionary()


def structure_key(scene: VectorScene):
    """What :func:`compile_scene` depends on besides parameter values: the canvas size, the scene's
    :meth:`~penumbra.scenes.vector.model.VectorScene.structure_key` (topology, styles) and the
    identity of every object that holds parameter values (nodes, geometry dicts, paints, shader
    paints' value dicts and shaders), which the cached parameter readers refer to."""
    holders = []
    for node, _ in scene.walk():
        holders += [id(node), id(getattr(node, "geom", None))]
        for which in ("fill", "stroke"):
            p = getattr(node, which, None)
            holders += [id(p), id(getattr(p, "values", None)), id(getattr(p, "shader", None))]
    return scene.width, scene.height, scene.structure_key(), tuple(holders)


def _theta0(values, root_transform):
    """The packed parameter values followed by the constant slots: identity matrix (6), one, zero,
    a transparent colour (4) and the root transform (6)."""
    flat = [v.reshape(-1) if isinstance(v, np.ndarray) else np.ravel(v) for v in values]
    return np.concatenate(flat + [IDENTITY, [1.0, 0.0], np.zeros(4), np.ravel(root_transform)], dtype=np.float64)


def compile_scene(scene: VectorScene) -> Compiled:
    """Stage 1, compile: pack the scene's parameters into ``theta0`` (plus constant slots) and
    describe every shape's control points, transforms, opacities, widths and paints as slots and
    affine formulas in it (:class:`Compiled`).

    The result is kept per scene: a later call on a scene with the same :func:`structure_key`
    (between optimiser steps only values change) re-reads the parameter values into a new
    ``theta0`` and shares everything else (the records and lists of a :class:`Compiled` are
    read-only for its users)."""
    key = structure_key(scene)
    cached = _COMPILED.get(scene)
    if cached is not None and cached[0] == key:
        _, comp, readers = cached
        theta0 = _theta0([r() for r in readers], scene.root.transform)
        if theta0.size == comp.theta0.size:
            return dataclasses.replace(comp, theta0=theta0)
    params = scene.params
    comp = _compile(scene, params)
    _COMPILED[scene] = (key, comp, params.readers())
    return dataclasses.replace(comp)


def _compile(scene: VectorScene, params) -> Compiled:
    """:func:`compile_scene` without the cache."""
    stored = [params.stored(name) for name in params.keys()]
    slots, off = {}, 0
    for name, v in zip(params.keys(), stored):
        slots[name] = (off, np.shape(v))
        off += np.size(v)
    # constant slots (see _theta0)
    ident = off
    one, zero = off + 6, off + 7
    clear = off + 8
    root_t = off + 12
    theta0 = _theta0(stored, scene.root.transform)

    shapes, chains, opac, groups_of = [], [], [], []
    clip_groups, mask_groups = {}, {}   # id(group) -> the group that it clips / masks
    for node, chain in scene.walk():
        if not isinstance(node, Shape):
            if node.clip is not None:
                clip_groups[id(node.clip)] = node
            if node.mask is not None:
                mask_groups[id(node.mask)] = node
            continue
        groups_of.append(chain[1:])
        tr = [root_t] + [slots[f"{g.id}.transform"][0] for g in chain[1:]] + [slots[f"{node.id}.transform"][0]]
        op = [slots[f"{g.id}.opacity"][0] for g in chain[1:]] + [slots[f"{node.id}.opacity"][0]]
        shapes.append(node)
        chains.append(tr)
        opac.append(op)
    D = max([len(c) for c in chains] + [1])
    Do = max([len(c) for c in opac] + [1])
    chains_a = np.full((len(shapes), D), ident, np.int64)
    opac_a = np.full((len(shapes), Do), one, np.int64)
    for i, (c, o) in enumerate(zip(chains, opac)):
        chains_a[i, :len(c)] = c
        opac_a[i, :len(o)] = o
    width_slot = np.array([slots[f"{s.id}.stroke_width"][0] if s.stroke is not None else zero for s in shapes],
                          np.int64)
    moves = np.zeros(theta0.size, bool)
    for name, (off, shape) in slots.items():
        moves[off:off + math.prod(shape)] = params.info(name).moves_geometry
    comp = Compiled(scene.width, scene.height, theta0, slots, shapes, chains_a, opac_a, width_slot,
                    identity_slot=ident, one_slot=one, zero_slot=zero, clear_slot=clear, moves=moves)
    span = {}
    clip_of = {}   # id(clip group) -> layers of the shapes whose nearest enclosing clip group it is
    row = 0   # control-point rows of the subpaths so far (the tessellator concatenates them)
    for si, s in enumerate(shapes):
        def slot(name, i, s=s):
            return slots[f"{s.id}.{name}"][0] + i
        for idx, coef, const, is_line, closed, arcs in s.outline(slot):
            comp.subpaths.append(Subpath(si, idx, coef, const, is_line, closed))
            comp.arcs += [(r0 + row, a + row, b + row, *rest) for r0, a, b, *rest in arcs]
            row += len(idx)
        if s.stroke is not None and s.dash_array.size:
            comp.dashes.append(DashRecord(si, slot("dash_array", 0), s.dash_array.size, slot("dash_offset", 0)))
        first = len(comp.layers)
        in_clip = [g for g in groups_of[si] if id(g) in clip_groups]
        if in_clip:
            # a clip shape: its fill region only, whatever its paints, drawn transparent
            comp.layers.append(Layer(si, "fill", s.fill_rule == "evenodd", Paint(PAINT_SOLID, color=clear)))
            clip_of.setdefault(id(in_clip[-1]), []).append(first)
        for kind in ("fill", "stroke") if not in_clip else ():
            paint = getattr(s, kind)
            if paint is None:
                continue
            comp.layers.append(Layer(si, kind, kind == "fill" and s.fill_rule == "evenodd",
                                     _paint_record(paint, f"{s.id}.{kind}", slots)))
        # layer ranges of the opacity nodes (a subtree's layers are contiguous in draw order)
        for depth, node in enumerate(groups_of[si] + [s]):
            lo, hi, _ = span.setdefault(id(node), [first, len(comp.layers), (node, depth)])
            span[id(node)][:2] = [min(lo, first), max(hi, len(comp.layers))]
    comp.placements = _placements(scene, slots, comp)
    comp.nodes = _opacity_nodes(span, slots, clip_groups, mask_groups, clip_of)
    return comp


def _opacity_nodes(span, slots, clip_groups, mask_groups, clip_of):
    """:class:`OpacityNode` records of the groups and shapes (``span``: id -> [lo, hi, (node,
    depth)]) with two or more layers, or with a clip path or a mask, and of every mask's content.
    Groups inside a clip path make no node: clip layers are transparent."""
    def layer_range(group, what):
        rows = clip_of.get(id(group), [])
        lo, hi = (min(rows), max(rows) + 1) if rows else (0, 0)
        if hi - lo != len(rows):
            raise SceneError(f"clip path {group.id!r}: a shape inside it has a clip path of its own, which is "
                             f"not supported ({what})")
        return lo, hi

    def clips_of(group):
        if group.clip is None:
            return ()
        return (layer_range(group.clip, f"clipping {group.id!r}"),) + clips_of(group.clip)

    in_clip = set(clip_groups)
    clip_layers = {i for rows in clip_of.values() for i in rows}
    nodes = []
    for lo, hi, (node, depth) in span.values():
        if id(node) in in_clip or (hi > lo and all(i in clip_layers for i in range(lo, hi))):
            continue   # a clip path, or a group inside one
        kind = "mask" if id(node) in mask_groups else "group"
        clips, mask = (), None
        if isinstance(node, Group):
            clips = clips_of(node)
            if node.mask is not None:
                m = span.get(id(node.mask))
                mask = (m[0], m[1]) if m is not None else (0, 0)
        if kind == "mask" or clips or mask is not None or hi - lo >= 2:
            nodes.append(OpacityNode(slots[f"{node.id}.opacity"][0], lo, hi, depth, clips, mask, kind,
                                     kind == "mask" and mask_groups[id(node)].mask_type == "alpha"))
    return nodes


@dataclass(frozen=True)
class Placements:
    """Marker groups whose transform is computed from their host path
    (:class:`penumbra.scenes.vector.markers.MarkerPlacement`), one row each: ``target`` the
    theta offset of the group's transform (6 slots); ``vertex`` (m, 2), ``d_in``/``d_out``
    (m, 2, 2) (coordinate, to/from) the theta slots of the vertex and of the direction end
    points (``zero_slot`` for a constant direction), ``c_in``/``c_out`` (m, 2) constant
    directions, ``k`` (m, 4) ``(k_in, k_out, fx, fy)``, ``scale`` (m,) the slot of the scale
    factor, ``content`` (m, 6) the constant map."""
    target: np.ndarray
    vertex: np.ndarray
    d_in: np.ndarray
    d_out: np.ndarray
    c_in: np.ndarray
    c_out: np.ndarray
    k: np.ndarray
    scale: np.ndarray
    content: np.ndarray

    def sources(self) -> np.ndarray:
        """(m, 11) theta slots each row's transform depends on."""
        m = len(self.target)
        return np.concatenate([self.vertex, self.d_in.reshape(m, 4), self.d_out.reshape(m, 4),
                               self.scale[:, None]], 1)

    def matrices(self, theta, gather, const, sqrt, maximum):
        """The 6 transform coefficients per row for parameter vector ``theta`` (``gather(theta,
        slots)`` reads it and ``const`` converts NumPy constants: NumPy, or Dr.Jit gathers and
        uploads)."""
        def direction(d, c):
            return tuple(gather(theta, d[:, k, 0]) - gather(theta, d[:, k, 1]) + const(c[:, k]) for k in (0, 1))
        ix, iy = direction(self.d_in, self.c_in)
        ox, oy = direction(self.d_out, self.c_out)
        return placement_matrix(gather(theta, self.vertex[:, 0]), gather(theta, self.vertex[:, 1]), ix, iy, ox, oy,
                                *(const(self.k[:, j]) for j in range(4)), gather(theta, self.scale),
                                tuple(const(self.content[:, j]) for j in range(6)), sqrt, maximum)


def _placements(scene, slots, comp):
    rows = []
    for node, _ in scene.walk():
        pl = getattr(node, "placement", None)
        if pl is None:
            continue
        base = slots[f"{pl.host}.points"][0]

        def pt(r):
            return [base + 2 * r, base + 2 * r + 1]

        def direction(d):
            if d is None or d.to is None:
                return [[comp.zero_slot] * 2] * 2, list(d.const) if d is not None else [0.0, 0.0]
            return [[base + 2 * d.to + k, base + 2 * d.frm + k] for k in (0, 1)], [0.0, 0.0]
        di, ci = direction(pl.d_in)
        do, co = direction(pl.d_out)
        if pl.stroke_scaled:
            scale = slots[f"{pl.host}.stroke_width"][0]
        else:
            scale = comp.one_slot
        k = [pl.k_in, pl.k_out, *pl.fixed]
        content = np.array(pl.content, np.float64)
        if not pl.stroke_scaled:
            content = np.array(compose((pl.scale, 0.0, 0.0, pl.scale, 0.0, 0.0), tuple(content)))
        rows.append((slots[f"{node.id}.transform"][0], pt(pl.vertex), di, do, ci, co, k, scale, content))
    if not rows:
        return None
    cols = list(zip(*rows))
    return Placements(np.array(cols[0], np.int64), np.array(cols[1], np.int64), np.array(cols[2], np.int64),
                      np.array(cols[3], np.int64), np.array(cols[4], np.float64), np.array(cols[5], np.float64),
                      np.array(cols[6], np.float64), np.array(cols[7], np.int64), np.array(cols[8], np.float64))


def place_markers(comp: Compiled, theta, theta_np, overridden):
    """``theta`` (``mi.Float``) and ``theta_np`` with every marker group's transform replaced by
    its placement computed from them (attached to the host's parameters); a placed transform
    counts as overridden where any slot it depends on is."""
    import drjit as dr
    import mitsuba as mi
    pl = comp.placements
    if pl is None:
        return theta, theta_np
    m = len(pl.target)
    mats_np = pl.matrices(theta_np, lambda t, i: t[i], lambda c: c, np.sqrt, np.maximum)
    idx = (pl.target[:, None] + np.arange(6)).reshape(-1)   # row-major (placement, coefficient)
    theta_np = theta_np.copy()
    theta_np[idx] = np.stack([np.broadcast_to(v, (m,)) for v in mats_np], 1).reshape(-1)
    overridden[idx] = np.repeat(overridden[pl.sources()].any(1), 6)
    if overridden[idx].any():
        mats = pl.matrices(theta, lambda t, i: dr.gather(mi.Float, t, upload(mi.UInt32, i)),
                           lambda c: upload(mi.Float, np.ascontiguousarray(c)), dr.sqrt, dr.maximum)
        values = dr.zeros(mi.Float, 6 * m)
        for j in range(6):
            dr.scatter(values, mats[j] + dr.zeros(mi.Float, m), dr.arange(mi.UInt32, m) * 6 + j)
    else:
        values = upload(mi.Float, theta_np[idx])
    pos = np.full(theta_np.size, -1, np.int64)
    pos[idx] = np.arange(idx.size)
    theta = dr.select(upload(mi.Bool, pos >= 0), dr.gather(mi.Float, values, upload(mi.UInt32, np.maximum(pos, 0))),
                      theta)
    return theta, theta_np


def _paint_record(paint, prefix, slots) -> Paint:
    if isinstance(paint, ShaderPaint):
        return Paint(PAINT_SHADER, transform=slots[f"{prefix}.transform"][0], shader=paint.shader,
                     params=tuple((k, slots[f"{prefix}.{k}"][0]) for k in paint.values))
    if not isinstance(paint, Gradient):
        return Paint(PAINT_SOLID, color=slots[f"{prefix}.color"][0])
    g = paint
    common = dict(spread=SPREAD[g.spread], n=len(g.offsets), offsets=slots[f"{prefix}.stops.offset"][0],
                  colors=slots[f"{prefix}.stops.color"][0], transform=slots[f"{prefix}.transform"][0])
    if g.kind == "linear":
        return Paint(PAINT_LINEAR, a=slots[f"{prefix}.start"][0], b=slots[f"{prefix}.end"][0], **common)
    return Paint(PAINT_RADIAL, a=slots[f"{prefix}.center"][0], b=slots[f"{prefix}.focal"][0],
                 r=slots[f"{prefix}.radius"][0], **common)


NONNEGATIVE = tuple("." + name for name in NONNEGATIVE_FIELDS)   # parameter-name suffixes


def override_indices(comp: Compiled, scene: VectorScene, pattern: str):
    """Names addressed by a parameter name or glob pattern, their theta indices (in value order)
    and the element count of each name."""
    if pattern in comp.slots:
        names = [pattern]
    else:
        names = fnmatch.filter(comp.slots, pattern)
        if not names:
            scene.params.select(pattern)  # raises ParameterError naming the pattern
    off = np.array([comp.slots[n][0] for n in names], np.int64)
    size = np.array([math.prod(comp.slots[n][1]) for n in names], np.int64)
    idx = np.repeat(off - (np.cumsum(size) - size), size) + np.arange(int(size.sum()))
    return names, idx, size


def check_values(names, sizes, values):
    """Finite values, and non-negative ones for widths, radii and sizes (vectorised; the error
    names the first offending parameter)."""
    nonneg = np.repeat([n.endswith(NONNEGATIVE) for n in names], sizes)
    bad = ~np.isfinite(values) | (nonneg & (values < 0))
    if bad.any():
        k = int(np.searchsorted(np.cumsum(sizes), np.argmax(bad), side="right"))
        lo = int(np.sum(sizes[:k]))
        check_value(names[k], values[lo:lo + sizes[k]])


def check_value(name, arr):
    if not np.all(np.isfinite(arr)):
        raise ParameterError(f"parameter {name!r}: value contains NaN or Inf")
    if name.endswith(NONNEGATIVE) and np.any(arr < 0):
        raise ParameterError(f"parameter {name!r} must be >= 0, got {arr.min():g}")


@dataclass(frozen=True)
class Theta:
    """A scene's parameter vector bound to concrete values: ``values`` (``mi.Float``, attached to
    the caller's Dr.Jit parameters where they were overridden), a detached NumPy copy ``values_np``,
    which slots were overridden (``overridden``: those may carry gradients) and whether a parameter
    that moves edges got a value with gradients (``moves_geometry``; when not, tessellation can run
    off the AD graph and the image has no boundary term)."""
    values: object                     # mi.Float
    values_np: np.ndarray
    overridden: np.ndarray             # (n,) bool
    moves_geometry: bool = True

    def geometry(self):
        """``values`` for tessellation: detached unless a parameter that moves edges has gradients."""
        import drjit as dr
        return self.values if self.moves_geometry else dr.detach(self.values)


def bind_parameters(comp: Compiled, scene: VectorScene, overrides, root) -> Theta:
    """``theta`` of ``comp`` with the values of ``overrides`` (name or glob pattern -> values) and
    the affine map ``root`` (canvas scale and batch offset) applied after the scene's root
    transform. Values are checked (count, finiteness, sign) with errors that name the parameter."""
    import drjit as dr
    import mitsuba as mi
    theta0 = comp.theta0.copy()
    # canvas scale and batch offset folded into the (constant) root transform slot
    theta0[-6:] = np.array(compose(tuple(root), tuple(theta0[-6:].copy())))
    theta_np = theta0.copy()
    theta = upload(mi.Float, theta0)
    overridden = np.zeros(theta0.size, bool)
    moving = False
    for pattern, value in (overrides or {}).items():
        names, idx, sizes = override_indices(comp, scene, pattern)
        if dr.is_array_v(value):
            v = value.array if dr.is_tensor_v(value) else (dr.ravel(value) if dr.depth_v(value) > 1 else value)
            v = mi.Float(v) if type(v) is not mi.Float else v
            vnp = np.array(dr.detach(v), dtype=np.float64)
            moving = moving or (dr.grad_enabled(v) and bool(comp.moves[idx].any()))
        else:
            vnp = np.asarray(value, dtype=np.float64).reshape(-1)
            v = upload(mi.Float, vnp)
        if vnp.size != idx.size:
            raise ParameterError(f"parameter {pattern!r} ({len(names)} name(s)) expects {idx.size} values, "
                                 f"got {vnp.size}")
        check_values(names, sizes, vnp)
        theta_np[idx] = vnp
        overridden[idx] = True
        pos = np.full(theta0.size, -1, np.int64)
        pos[idx] = np.arange(idx.size)
        sel = pos >= 0
        theta = dr.select(upload(mi.Bool, sel), dr.gather(mi.Float, v, upload(mi.UInt32, np.maximum(pos, 0))), theta)
    theta, theta_np = place_markers(comp, theta, theta_np, overridden)
    return Theta(theta, theta_np, overridden, moving)
