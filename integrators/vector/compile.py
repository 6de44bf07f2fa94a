"""Scene -> flat arrays: the parameter vector ``theta`` and the affine formulas that map it to
control points, transforms, opacities, widths and paints. Pure NumPy; evaluated on Dr.Jit by
:mod:`integrators.vector.tessellate` so that every named parameter is differentiable."""
from __future__ import annotations

import fnmatch
import math
from dataclasses import dataclass, field

import numpy as np

from penumbra.scenes.errors import ParameterError
from penumbra.scenes.vector.model import IDENTITY, Gradient, Group, Shape, VectorScene

PAINT_NONE, PAINT_SOLID, PAINT_LINEAR, PAINT_RADIAL = 0, 1, 2, 3
SPREAD = {"pad": 0, "reflect": 1, "repeat": 2}


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
    subpaths: list = field(default_factory=list)  # (shape index, idx, coef, const, is_line, closed)
    arcs: list = field(default_factory=list)      # elliptical arcs: global control-point rows and slots
    nodes: list = field(default_factory=list)     # (opacity slot, first layer, end layer, depth): groups
    #                                               and shapes with >= 2 layers (isolated when opacity < 1)
    layers: list = field(default_factory=list)    # dicts: shape, kind('fill'|'stroke'), rule, paint
    identity_slot: int = 0
    one_slot: int = 0
    zero_slot: int = 0


def compile_scene(scene: VectorScene) -> Compiled:
    params = scene.params
    values, slots, off = [], {}, 0
    for name in params.keys():
        v = np.asarray(params._get_ref(name), dtype=np.float64)
        slots[name] = (off, v.shape)
        values.append(v.reshape(-1))
        off += v.size
    # constant slots: identity matrix, one, zero, root transform
    ident = off
    values.append(IDENTITY.copy())
    off += 6
    one, zero = off, off + 1
    values.append(np.array([1.0, 0.0]))
    off += 2
    root_t = off
    values.append(np.asarray(scene.root.transform, dtype=np.float64))
    off += 6
    theta0 = np.concatenate(values) if values else np.zeros(0)

    shapes, chains, opac, groups_of = [], [], [], []
    for node, chain in scene.walk():
        if not isinstance(node, Shape):
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
    comp = Compiled(scene.width, scene.height, theta0, slots, shapes, chains_a, opac_a, width_slot,
                    identity_slot=ident, one_slot=one, zero_slot=zero)
    span = {}
    row = 0   # control-point rows of the subpaths so far (the tessellator concatenates them)
    for si, s in enumerate(shapes):
        def slot(name, i, s=s):
            return slots[f"{s.id}.{name}"][0] + i
        for idx, coef, const, is_line, closed, arcs in s.outline(slot):
            comp.subpaths.append((si, idx, coef, const, is_line, closed))
            comp.arcs += [(r0 + row, a + row, b + row, *rest) for r0, a, b, *rest in arcs]
            row += len(idx)
        first = len(comp.layers)
        for kind in ("fill", "stroke"):
            paint = getattr(s, kind)
            if paint is None:
                continue
            comp.layers.append({"shape": si, "kind": kind,
                                "rule": 1 if (kind == "fill" and s.fill_rule == "evenodd") else 0,
                                "paint": _paint_record(paint, f"{s.id}.{kind}", slots)})
        # layer ranges of the opacity nodes (a subtree's layers are contiguous in draw order)
        for depth, node in enumerate(groups_of[si] + [s]):
            lo, hi, _ = span.setdefault(id(node), [first, len(comp.layers), (node, depth)])
            span[id(node)][:2] = [min(lo, first), max(hi, len(comp.layers))]
    comp.nodes = [(slots[f"{node.id}.opacity"][0], lo, hi, depth) for lo, hi, (node, depth) in span.values()
                  if hi - lo >= 2]
    return comp


def _paint_record(paint, prefix, slots):
    if not isinstance(paint, Gradient):
        return {"type": PAINT_SOLID, "color": slots[f"{prefix}.color"][0]}
    g = paint
    rec = {"type": PAINT_LINEAR if g.kind == "linear" else PAINT_RADIAL, "spread": SPREAD[g.spread],
           "n": len(g.offsets), "offsets": slots[f"{prefix}.stops.offset"][0],
           "colors": slots[f"{prefix}.stops.color"][0], "transform": slots[f"{prefix}.transform"][0]}
    if g.kind == "linear":
        rec["a"], rec["b"] = slots[f"{prefix}.start"][0], slots[f"{prefix}.end"][0]
    else:
        rec["a"], rec["b"], rec["r"] = slots[f"{prefix}.center"][0], slots[f"{prefix}.focal"][0], slots[f"{prefix}.radius"][0]
    return rec


NONNEGATIVE = (".stroke_width", ".radius", ".size", ".corner_radius", ".arc_radii")


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
