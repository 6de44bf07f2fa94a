"""Runs cases of resvg's rendering test suite (https://github.com/linebender/resvg,
``crates/resvg/tests/tests``: an SVG and resvg's reference PNG per case) through
``load_svg`` + ``rasterize`` and classifies each one.

A case *passes* when the PSNR of the premultiplied RGBA image against the reference is at least
:data:`PSNR_PASS` dB, is *refused* when loading raises :class:`SceneError` / :class:`InputError`
(the message is the reason), *fails* when it renders below the threshold and *crashes* on any
other exception. Expectations live in ``tests/vector/resvg/expectations.tsv``.

A failing case listed in :data:`INEXACT_REFERENCE` is expected as ``inexact-reference``: resvg's
own image is an approximation there (the reason says which), Penumbra's render is checked
against an independent reference by the test named in the reason, and the harness only checks
that it still renders at :data:`PSNR_INEXACT` dB or more.
"""
from __future__ import annotations

import csv
import os

import numpy as np

PSNR_PASS = 30.0
PSNR_INEXACT = 15.0
_RESAMPLED_TILE = ("resvg renders a pattern tile into a pixmap of rounded pixel size and resamples it (the period "
                   "becomes a whole number of pixels, a fractional tile offset is snapped); the exact tiling is "
                   "checked against the tile drawn as explicit shapes by tests/vector/test_patterns.py")
#: failing cases whose reference is an approximation: case -> reason
INEXACT_REFERENCE = {
    "paint-servers/pattern/with-x-and-y": _RESAMPLED_TILE,
    "paint-servers/pattern/patternUnits=userSpaceOnUse-with-percent": _RESAMPLED_TILE,
    "paint-servers/pattern/invalid-patternUnits-and-patternContentUnits": _RESAMPLED_TILE,
}
SPP = 16
HERE = os.path.dirname(os.path.abspath(__file__))
SUBSET = os.path.join(HERE, "resvg")
EXPECTATIONS = os.path.join(SUBSET, "expectations.tsv")
AREAS = ("shapes", "painting", "paint-servers", "structure", "masking")


def reference_image(png_path) -> np.ndarray:
    """The reference PNG as premultiplied RGBA float32 in [0, 1]."""
    from PIL import Image
    img = np.asarray(Image.open(png_path).convert("RGBA")).astype(np.float32) / 255
    return premultiply(img)


def premultiply(img) -> np.ndarray:
    return np.concatenate([img[..., :3] * img[..., 3:], img[..., 3:]], -1)


def psnr(a, b) -> float:
    return float(10 * np.log10(1.0 / max(float(np.mean((a - b) ** 2)), 1e-12)))


def run_case(svg_path, png_path, spp: int = SPP):
    """``(status, detail)``: ("pass" | "fail", PSNR in dB) or ("refused" | "crash", message)."""
    from penumbra.integrators.vector import rasterize
    from penumbra.renderer.checks import InputError
    from penumbra.scenes.errors import SceneError
    from penumbra.scenes.vector import load_svg
    ref = reference_image(png_path)
    try:
        scene = load_svg(str(svg_path))
        img = np.array(rasterize(scene, ref.shape[1], ref.shape[0], spp=spp))
    except (SceneError, InputError) as e:
        return "refused", " ".join(str(e).replace(str(svg_path), os.path.basename(str(svg_path))).split())
    except Exception as e:  # noqa: BLE001 - a crash is a result the harness reports
        return "crash", f"{type(e).__name__}: {' '.join(str(e).split())}"
    value = psnr(premultiply(img), ref)
    return ("pass" if value >= PSNR_PASS else "fail"), value


def read_expectations(path=EXPECTATIONS) -> dict:
    """``{case: (expected status, reason)}`` from the tab-separated table (case, status, reason)."""
    out = {}
    with open(path, encoding="utf-8") as f:
        for row in csv.reader((line for line in f if not line.startswith("#")), delimiter="\t"):
            if row:
                out[row[0]] = (row[1], row[2] if len(row) > 2 else "")
    return out


def cases(root):
    """Relative case names (``area/dir/name``, no extension) of every SVG with a PNG under ``root``."""
    out = []
    for area in AREAS:
        base = os.path.join(root, area)
        for dirpath, _, files in os.walk(base):
            for f in files:
                if f.endswith(".svg") and os.path.exists(os.path.join(dirpath, f[:-4] + ".png")):
                    out.append(os.path.relpath(os.path.join(dirpath, f[:-4]), root).replace(os.sep, "/"))
    return sorted(out)
