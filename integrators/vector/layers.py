"""Per-layer device tables of a batch: where each layer's paint lives in the batch's parameter
vector, its opacity, its fill rule, the gradient-space inverse transforms, and the opacity nodes
that are composited in isolation (SVG group opacity)."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import drjit as dr
import numpy as np

from penumbra.renderer.arrays import upload

from .affine import compose, invert
from .compile import PAINT_LINEAR, PAINT_RADIAL, PAINT_SHADER
from .shader_paint import shader_layers


@dataclass(frozen=True)
class LayerTable:
    """All batch items' layers concatenated in draw order; slots index the batch's ``theta``."""
    ptype: object            # mi.UInt32 (L,) PAINT_* type
    color: object            # mi.UInt32 (L,) slot of the solid colour
    offsets: object          # mi.UInt32 (L,) slot of the gradient stop offsets
    colors: object           # mi.UInt32 (L,) slot of the gradient stop colours
    nstops: object           # mi.UInt32 (L,)
    a: object                # mi.UInt32 (L,) gradient start / centre
    b: object                # mi.UInt32 (L,) gradient end / focal point
    r: object                # mi.UInt32 (L,) radial gradient radius
    spread: object           # mi.UInt32 (L,) SPREAD value
    gt: object               # mi.UInt32 (L,) gradient transform
    evenodd: np.ndarray      # (L,) bool fill rule
    shape: object            # mi.UInt32 (L,) shape index (batch-wide)
    max_stops: int
    alpha: object            # mi.Float (L,) product of the opacities that are not isolated
    iso: tuple               # OpacityNode (batch slots and layers) composited in isolation, innermost first
    inv: tuple | None        # 6 mi.Float (L,) canvas -> paint space (None without gradient or shader paints)
    has_gradients: bool      # some layer has a gradient paint
    shaders: tuple = ()      # ShaderLayers of every shader paint (.shader_paint)

    def detached(self) -> LayerTable:
        """The same table with the inverse transforms detached (evaluations off the AD graph)."""
        if self.inv is None:
            return self
        return dataclasses.replace(self, inv=tuple(dr.detach(v) for v in self.inv))


def _or(slot, default):
    return default if slot is None else slot


def layer_table(items, theta):
    """:class:`LayerTable` of batch ``items`` (each with ``comp``, ``theta`` (:class:`.compile.Theta`)
    and ``geom`` (:class:`.tessellate.Geometry`)) over the concatenated parameter vector ``theta``.

    Opacity nodes (groups, shapes with fill and stroke) whose opacity may differ from 1 are
    composited in isolation (:func:`.kernels.isolate`); their opacity leaves the layers' own alpha.
    The alpha and the inverse transforms are built here from ``theta`` (not in the tessellator):
    a value built inside ``tessellate`` that fed the compositing custom op once lost its gradient."""
    import mitsuba as mi
    fields = ("ptype", "color", "offsets", "colors", "nstops", "a", "b", "r", "spread", "gt", "shape")
    rec = {k: [] for k in fields}
    evenodd, alphas, mats, iso = [], [], [[] for _ in range(6)], []
    shift = 0
    l_base = 0
    shape_shift = 0
    max_stops = 1
    has_grad = False
    shader_rec = []
    for it in items:
        comp = it.comp
        for layer in comp.layers:
            p = layer.paint
            rec["ptype"].append(p.type)
            rec["color"].append(shift + _or(p.color, comp.zero_slot))
            rec["offsets"].append(shift + _or(p.offsets, comp.zero_slot))
            rec["colors"].append(shift + _or(p.colors, comp.zero_slot))
            rec["nstops"].append(p.n)
            rec["a"].append(shift + _or(p.a, comp.zero_slot))
            rec["b"].append(shift + _or(p.b, comp.zero_slot))
            rec["r"].append(shift + _or(p.r, comp.zero_slot))
            rec["spread"].append(p.spread)
            rec["gt"].append(shift + _or(p.transform, comp.identity_slot))
            rec["shape"].append(shape_shift + layer.shape)
            evenodd.append(bool(layer.evenodd))
            max_stops = max(max_stops, p.n)
            has_grad |= p.type in (PAINT_LINEAR, PAINT_RADIAL)
            if p.type == PAINT_SHADER:
                shader_rec.append((len(rec["shape"]) - 1, p, shift))
        opac = np.array([comp.opac[l.shape] for l in comp.layers], np.int64).reshape(
            len(comp.layers), comp.opac.shape[1])
        for node in comp.nodes:
            if it.theta.values_np[node.slot] != 1.0 or it.theta.overridden[node.slot] or node.always_isolated:
                iso.append(node.shifted(shift, l_base))
                rows = opac[node.lo:node.hi]
                rows[rows == node.slot] = comp.one_slot
        alphas.append(opac + shift)
        l_base += len(comp.layers)
        for k in range(6):
            mats[k].append(it.geom.matrices[k] if it.geom.matrices is not None else mi.Float())
        shift += dr.width(it.theta.values)
        shape_shift += len(comp.shapes)
    dev = {k: upload(mi.UInt32, np.asarray(v, np.int64)) for k, v in rec.items()}
    width = max([a.shape[1] for a in alphas] + [1])
    slots = np.concatenate([np.pad(a, ((0, 0), (0, width - a.shape[1])), constant_values=-1) for a in alphas]) \
        if alphas else np.zeros((0, 1), np.int64)
    alpha = dr.full(mi.Float, 1.0, len(slots))
    for k in range(width):
        col = slots[:, k]
        alpha = alpha * dr.select(upload(mi.Bool, col >= 0),
                                  dr.gather(mi.Float, theta, upload(mi.UInt32, np.maximum(col, 0))), 1.0)
    inv = None
    if (has_grad or shader_rec) and len(rec["shape"]):
        M = [dr.gather(mi.Float, dr.concat(m) if len(m) > 1 else m[0], dev["shape"]) for m in mats]
        GT = [dr.gather(mi.Float, theta, dev["gt"] + k) for k in range(6)]
        inv = invert(compose(tuple(M), tuple(GT)))
    return LayerTable(**dev, evenodd=np.asarray(evenodd, bool), max_stops=max_stops, alpha=alpha,
                      iso=tuple(sorted(iso, key=lambda n: (-n.depth, n.kind != "mask"))), inv=inv,
                      has_gradients=has_grad,
                      shaders=shader_layers(shader_rec, len(rec["shape"])))
