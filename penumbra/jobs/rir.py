"""`penumbra rir`: render a room's impulse response to WAV, plot it with its energy decay curve, and
print / save the room-acoustic metrics table (ISO 3382-1, IEC 60268-16)."""
from __future__ import annotations

import json
import os

import numpy as np

from penumbra.renderer import checks


def add_parser(sub):
    p = sub.add_parser("rir", help="room impulse response by image sources -> WAV + plot + metrics table")
    p.add_argument("--room", help="room description: .json (shoebox / floor polygon / Mitsuba scene), a mesh file "
                   "(.obj, .ply) or a Mitsuba XML scene (then --source and --receiver are required); default: the "
                   "bundled classroom")
    p.add_argument("--order", type=checks.cli_int(lo=0), default=10,
                   help="maximum image-source reflection order (default 10)")
    p.add_argument("--no-tail", action="store_true", help="image sources only (no ray-traced late reverberation)")
    p.add_argument("--rays", type=checks.cli_int(lo=1), default=20000, help="rays for the late tail (default 20000)")
    p.add_argument("--conventions", default="penumbra", help="penumbra | pyroomacoustics | gpurir")
    p.add_argument("--kernel", choices=["hann_sinc", "sinc_lut", "frequency"],
                   help="override the fractional-delay kernel")
    p.add_argument("--source", type=checks.cli_float(), nargs=3, metavar=("X", "Y", "Z"), action="append",
                   help="source position; repeat for several sources (batch: one RIR per pair, see --pairs)")
    p.add_argument("--receiver", type=checks.cli_float(), nargs=3, metavar=("X", "Y", "Z"), action="append",
                   help="receiver position; repeat for several receivers")
    p.add_argument("--pairs", choices=["all", "matched"], default="all",
                   help="with several sources or receivers: every source with every receiver (all, default) or "
                        "source i with receiver i (matched); writes rirs.npy, pairs.json and one WAV per pair")
    p.add_argument("--material", help="material for every wall (bundled name or absorption value)")
    p.add_argument("--fs", type=checks.cli_int(lo=1), help="sampling rate (default: the room's, 16 kHz)")
    p.add_argument("--search", choices=["auto", "beams", "tree", "rays"], default="auto",
                   help="image-source search of a mesh room: auto (box lattice, prism beams or the complete "
                        "image tree), beams (prisms only), tree (any closed polyhedron), rays (candidate rays; "
                        "faster at high order, may miss paths)")
    p.add_argument("--n-rays", type=checks.cli_int(lo=1), default=40000,
                   help="candidate rays of --search rays")
    p.add_argument("--out", default="out/rir")
    p.set_defaults(func=run)
    return p


def load(args):
    import penumbra.scenes.room as R
    from penumbra.assets import asset
    path = args.room or asset("rooms", "default.json")
    kw = {}
    if args.fs:
        kw["fs"] = args.fs
    if args.material is not None:
        try:
            kw["materials"] = float(args.material)
        except ValueError:
            kw["materials"] = args.material
    if path.lower().endswith(".json"):
        room = R.load_room(path, receiver=args.receiver, source=args.source, **kw)
    else:
        if args.source is None or args.receiver is None:
            raise ValueError(f"room {path}: a mesh or Mitsuba scene room needs --source and --receiver")
        mats = kw.pop("materials", None)
        room = R.load_room(path, receiver=args.receiver, source=args.source,
                           **({"default_material": mats} if mats is not None else {}), **kw)
    return room


def format_table(table, centers) -> str:
    head = f"{'metric':<6} {'broadband':>10} " + " ".join(f"{int(c):>7}" for c in centers)
    lines = [head, "-" * len(head)]
    for name, (bb, bands) in table.items():
        row = f"{name:<6} {bb:>10.3f} "
        if bands is not None:
            row += " ".join(f"{v:>7.3f}" for v in bands)
        lines.append(row)
    return "\n".join(lines)


def run(args):
    from penumbra import renderer
    from penumbra.integrators.acoustic import conventions, filterbank, metrics, simulate

    room = load(args)
    conv = conventions(args.conventions, **({"kernel": args.kernel} if args.kernel else {}))
    tail = None if args.no_tail else {"n_rays": args.rays}
    kw = {"search": args.search, "n_rays": args.n_rays} if room.box is None else {}
    if len(room.sources) > 1 or len(room.receivers) > 1:
        return run_batch(args, room, conv, tail, kw)
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    res = simulate(room, args.order, conv, tail=tail, **kw)
    h = res.numpy()
    fs = room.fs
    os.makedirs(args.out, exist_ok=True)
    renderer.write_wav(os.path.join(args.out, "rir.wav"), h, fs, normalize=True)
    np.save(os.path.join(args.out, "rir.npy"), h)
    table = metrics.metrics_table(h, fs)
    centers = filterbank.band_centers(fs)
    text = format_table(table, centers)
    print(f"room: {'shoebox ' + str(room.box.tolist()) if room.box is not None else f'{room.n_walls} walls'}, "
          f"V = {room.volume():.1f} m^3, order {args.order}, {res.n_paths} image paths"
          f"{'' if tail is None else f' + {args.rays} rays'}, {len(h)} samples at {fs} Hz")
    print(text)
    print("Sabine T60 per band:", np.round(room.sabine()[:len(centers)], 3).tolist())
    print("Eyring T60 per band:", np.round(room.eyring()[:len(centers)], 3).tolist())
    with open(os.path.join(args.out, "metrics.json"), "w") as f:
        json.dump({k: {"broadband": v[0], "bands": None if v[1] is None else list(map(float, v[1]))}
                   for k, v in table.items()} | {"band_centers_hz": centers.tolist(), "paths": res.n_paths,
                                                 "sabine": room.sabine().tolist(), "eyring": room.eyring().tolist()},
                  f, indent=1, default=lambda x: None if not np.isfinite(x) else x)
    with open(os.path.join(args.out, "metrics.txt"), "w") as f:
        f.write(text + "\n")
    t = np.arange(len(h)) / fs
    edc = np.cumsum((h ** 2)[::-1])[::-1]
    fig, ax = plt.subplots(2, 1, figsize=(8, 6), sharex=True)
    ax[0].plot(t, h, lw=0.6)
    ax[0].set_ylabel("pressure")
    ax[0].set_title(f"RIR ({res.n_paths} image sources, order {args.order}"
                    + (", ray-traced tail)" if tail else ")"))
    ax[1].plot(t, 10 * np.log10(np.maximum(edc / edc[0], 1e-12)))
    ax[1].set_ylim(-70, 3)
    ax[1].set_ylabel("EDC (dB)")
    ax[1].set_xlabel("time (s)")
    fig.tight_layout()
    fig.savefig(os.path.join(args.out, "rir.png"), dpi=110)
    plt.close(fig)
    print(f"wrote {args.out}/rir.wav, rir.png, metrics.json, metrics.txt")
    return 0


def run_batch(args, room, conv, tail, kw):
    """Several sources or receivers: one RIR per pair (:func:`integrators.acoustic.rirs`), written as
    ``rirs.npy`` (pairs x samples), ``pairs.json`` (positions per row) and ``rir_s<S>_r<R>.wav``."""
    import time

    from penumbra import renderer
    from penumbra.integrators.acoustic import metrics, rirs
    from penumbra.integrators.acoustic.batch import pair_list

    pairs = pair_list(room, args.pairs)
    t0 = time.perf_counter()
    H = rirs(room, args.order, conv, pairs=pairs, tail=tail, **kw)
    elapsed = time.perf_counter() - t0
    os.makedirs(args.out, exist_ok=True)
    np.save(os.path.join(args.out, "rirs.npy"), H)
    rows = []
    print(f"{len(pairs)} pairs, order {args.order}{'' if tail is None else f' + {args.rays} rays'}: "
          f"{elapsed:.2f} s ({len(pairs) / elapsed:.1f} RIRs/s), {H.shape[1]} samples at {room.fs} Hz")
    print(f"{'source':>6} {'receiver':>8} {'EDT':>7} {'T30':>7} {'C50':>7}")
    for (s, r), h in zip(pairs, H):
        renderer.write_wav(os.path.join(args.out, f"rir_s{s}_r{r}.wav"), h, room.fs, normalize=True)
        table = metrics.metrics_table(h, room.fs)
        rows.append({"source": s, "receiver": r, "source_position": room.sources[s].tolist(),
                     "receiver_position": room.receivers[r].tolist(),
                     **{k: table[k][0] for k in ("EDT", "T30", "C50")}})
        print(f"{s:>6} {r:>8} {table['EDT'][0]:>7.3f} {table['T30'][0]:>7.3f} {table['C50'][0]:>7.2f}")
    with open(os.path.join(args.out, "pairs.json"), "w") as f:
        json.dump(rows, f, indent=1, default=lambda x: None if not np.isfinite(x) else x)
    print(f"wrote {args.out}/rirs.npy, pairs.json and {len(pairs)} WAV files")
    return 0
