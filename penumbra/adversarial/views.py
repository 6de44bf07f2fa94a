"""Expectation over Transformation (Athalye et al. 2018, "Synthesizing Robust Adversarial Examples"):
the distribution of viewing conditions an attack is optimised over, and the held-out views it is
scored on.

A view is a camera on a ring (fixed elevation band, any azimuth) or on a sphere cap around the object,
looking at its centre; per view the attack also scales every light's radiance by a random factor in
``[1 - light_jitter, 1 + light_jitter]`` and adds Gaussian image noise of standard deviation ``noise``.
Training views are drawn at random; held-out views are ``n`` azimuths at fixed steps, offset by half a
step from 0, drawn from a separate seed (the attack never renders them).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from penumbra.renderer import checks

LAYOUTS = ("ring", "sphere")


@dataclass
class EOT:
    """Viewing conditions. Angles in degrees; ``distance`` None keeps the scene camera's distance to the
    object centre; ``elevation`` is the (min, max) band of camera elevations above the object's centre."""
    layout: str = "ring"
    elevation: tuple = (5.0, 35.0)
    distance: float | None = None
    light_jitter: float = 0.2
    noise: float = 0.02

    def check(self) -> EOT:
        checks.choice("EOT layout", self.layout, LAYOUTS)
        lo, hi = (checks.number("EOT elevation", e, -89.0, 89.0) for e in self.elevation)
        if lo > hi:
            raise checks.InputError(f"EOT elevation band must be (min, max), got {self.elevation}")
        if self.distance is not None:
            checks.positive("EOT distance", self.distance)
        checks.number("EOT light_jitter", self.light_jitter, 0.0, 1.0, open_hi=True)
        checks.number("EOT noise", self.noise, 0.0)
        return self


def look_at(center, azimuth: float, elevation: float, distance: float) -> np.ndarray:
    """4x4 camera-to-world matrix of a camera at (azimuth, elevation) degrees and ``distance`` from
    ``center``, looking at it with +y up (Mitsuba's convention: the camera looks along its +z)."""
    a, e = np.radians(azimuth), np.radians(elevation)
    origin = np.asarray(center, float) + distance * np.array([np.cos(e) * np.sin(a), np.sin(e), np.cos(e) * np.cos(a)])
    z = np.asarray(center, float) - origin
    z /= np.linalg.norm(z)
    x = np.cross([0.0, 1.0, 0.0], z)
    x /= np.linalg.norm(x)
    y = np.cross(z, x)
    m = np.eye(4)
    m[:3, 0], m[:3, 1], m[:3, 2], m[:3, 3] = x, y, z, origin
    return m


def sample_views(eot: EOT, center, distance: float, n: int, rng: np.random.Generator) -> list[np.ndarray]:
    """``n`` random training views (camera-to-world matrices)."""
    lo, hi = eot.elevation
    az = rng.uniform(0.0, 360.0, n)
    if eot.layout == "ring":
        el = rng.uniform(lo, hi, n)
    else:  # uniform in solid angle over the band
        s = rng.uniform(np.sin(np.radians(lo)), np.sin(np.radians(hi)), n)
        el = np.degrees(np.arcsin(s))
    return [look_at(center, a, e, distance) for a, e in zip(az, el)]


def held_out_views(eot: EOT, center, distance: float, n: int, seed: int = 12345) -> list[np.ndarray]:
    """``n`` evaluation views: azimuths (i + 1/2) 360/n, elevations from a seed the attack does not use."""
    lo, hi = eot.elevation
    el = np.random.default_rng(seed).uniform(lo, hi, n)
    return [look_at(center, (i + 0.5) * 360.0 / n, e, distance) for i, e in enumerate(el)]
