"""Batch impulse responses: many source/receiver pairs of one or several rooms in one call.

The pairs of one room share what does not depend on the receiver: the image-source tree of a polyhedral
room that is not a prism is built once per source (:func:`.image_tree.cached_build`) and only its
ray-traced validity is checked per receiver; a shoebox's lattice is uploaded once per order; the wall
planes and their orientation are computed once per geometry. The late tail (``tail=``) traces one ray
set per source and records its crossings of every receiver sphere of that source's pairs
(:func:`.tail.trace` with several receivers): each pair's tail equals the one of its single call.
"""
from __future__ import annotations

import numpy as np

from penumbra.scenes.room import Room

from .rir import rir, tail_options
from .tail import trace


def pair_list(room: Room, pairs) -> list:
    """The (source index, receiver index) pairs of ``room`` selected by ``pairs``: ``"all"`` (every source
    with every receiver), ``"matched"`` (source i with receiver i) or an explicit sequence of index pairs."""
    S, R = len(room.sources), len(room.receivers)
    if isinstance(pairs, str):
        if pairs == "all":
            return [(s, r) for s in range(S) for r in range(R)]
        if pairs == "matched":
            if S != R:
                raise ValueError(f"pairs='matched' needs as many sources as receivers, got {S} sources and "
                                 f"{R} receivers")
            return [(i, i) for i in range(S)]
        raise ValueError(f"pairs must be 'all', 'matched' or a list of (source, receiver) index pairs, "
                         f"got {pairs!r}")
    out = []
    for p in pairs:
        try:
            s, r = (int(v) for v in p)
        except (TypeError, ValueError):
            raise ValueError(f"pairs must hold (source, receiver) index pairs, got {p!r}") from None
        if not (0 <= s < S and 0 <= r < R):
            raise ValueError(f"pair {(s, r)} is out of range: the room has {S} sources and {R} receivers")
        out.append((s, r))
    if not out:
        raise ValueError("pairs is empty")
    return out


def rirs(rooms, order: int = 10, conventions=None, pairs="all", length: int | None = None, **kw):
    """Impulse responses (NumPy float64, no gradients) of the source/receiver ``pairs`` (:func:`pair_list`)
    of ``rooms``: for one :class:`Room` an array (n_pairs, N), for a sequence of rooms a list of such
    arrays. Rows are zero-padded to the longest response (or cut to ``length`` samples when given).
    Other keywords are those of :func:`.rir.simulate` (``tail``, ``method``, ``search``, ...)."""
    single = isinstance(rooms, Room)
    room_list = [rooms] if single else list(rooms)
    if not room_list or not all(isinstance(r, Room) for r in room_list):
        raise ValueError("rooms must be a Room or a non-empty sequence of Rooms")
    out = []
    for room in room_list:
        plist = pair_list(room, pairs)
        deps = {}
        topts = tail_options(room, kw.get("tail"))
        if topts is not None:
            for s in sorted({s for s, _ in plist}):
                rs = sorted({r for s2, r in plist if s2 == s})
                got = trace(room, int(order), topts["n_rays"], topts["t_max"], topts["radius"], topts["seed"],
                            source=room.sources[s], receiver=np.asarray(room.receivers)[rs])
                deps.update({(s, r): d for r, d in zip(rs, got)})
        hs = [rir(room, order, conventions, source=s, receiver=r, length=length, deposits=deps.get((s, r)), **kw)
              for s, r in plist]
        N = length if length is not None else max(len(h) for h in hs)
        H = np.zeros((len(hs), N))
        for i, h in enumerate(hs):
            H[i, :min(N, len(h))] = h[:N]
        out.append(H)
    return out[0] if single else out
