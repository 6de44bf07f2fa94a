"""Named conventions of room impulse response synthesis (a preset reproduces pyroomacoustics).

Every choice that differs between ISM implementations is an explicit field:

* ``amplitude``: ``"1/r"`` (pyroomacoustics' ShoeBox RIR) or ``"1/(4pi r)"`` (free-field Green's function as
  in rir-generator, gpuRIR and pyroomacoustics' ``build_rir_matrix``).
* ``reflection_sign``: ``+1`` (pressure reflection factor +sqrt(1 - alpha), pyroomacoustics) or ``-1``
  (-sqrt(1 - alpha) per hit, as in gpuRIR and Zhi et al., WASPAA 2023).
* ``kernel``: the fractional delay. ``"hann_sinc"`` (default): sinc(t - tau) times a Hann window of
  ``taps - 1`` samples centred on the arrival, exact and smooth in tau (the window moves with the
  arrival). ``"sinc_lut"``: pyroomacoustics' kernel -- the sinc read from a table of ``lut_granularity``
  points per sample with linear interpolation, the Hann window fixed on the integer tap grid.
  ``"frequency"``: exact band-limited delay built in the frequency domain (no window, no truncation;
  the sum over images of exp(-2 pi i f tau) inverse-transformed), costlier.
* ``taps``: kernel length (odd), ``lead_in``: every arrival is delayed by this many samples
  (pyroomacoustics: taps // 2 = 40) so that the non-causal kernel fits.
* ``highpass``: ``None`` or ``(cutoff_hz, order)`` Butterworth applied forward-backward (zero phase,
  scipy ``sosfiltfilt`` with odd padding), pyroomacoustics: ``(10.0, 2)``.
* ``filter_bank``: per-band synthesis is combined by the energy-preserving Antoni octave filter bank
  (see :mod:`.filterbank`).
* ``image_set``: ``"l1"`` (|nx| + |ny| + |nz| <= order: every path with at most ``order`` reflections,
  pyroomacoustics) -- the only option implemented.
* ``delay_precision``: ``"float64"`` or ``"float32"`` (round the arrival sample to float32 as
  pyroomacoustics' C++ builder does; only to reproduce it bit-for-bit at long delays).
"""
from __future__ import annotations

import dataclasses


@dataclasses.dataclass(frozen=True)
class Conventions:
    amplitude: str = "1/r"
    reflection_sign: int = 1
    kernel: str = "hann_sinc"
    taps: int = 81
    lut_granularity: int = 20
    lead_in: int = 40
    highpass: tuple | None = None
    image_set: str = "l1"
    delay_precision: str = "float64"

    def __post_init__(self):
        if self.amplitude not in ("1/r", "1/(4pi r)"):
            raise ValueError(f"amplitude must be '1/r' or '1/(4pi r)', got {self.amplitude!r}")
        if self.reflection_sign not in (1, -1):
            raise ValueError(f"reflection_sign must be +1 or -1, got {self.reflection_sign!r}")
        if self.kernel not in ("hann_sinc", "sinc_lut", "frequency"):
            raise ValueError(f"kernel must be 'hann_sinc', 'sinc_lut' or 'frequency', got {self.kernel!r}")
        if self.taps < 3 or self.taps % 2 == 0:
            raise ValueError(f"taps must be odd and >= 3, got {self.taps}")
        if self.lead_in < 0:
            raise ValueError(f"lead_in must be >= 0 samples, got {self.lead_in}")
        if self.highpass is not None and (len(self.highpass) != 2 or self.highpass[0] <= 0):
            raise ValueError(f"highpass must be None or (cutoff_hz > 0, order), got {self.highpass!r}")
        if self.image_set != "l1":
            raise ValueError(f"image_set must be 'l1', got {self.image_set!r}")
        if self.delay_precision not in ("float64", "float32"):
            raise ValueError(f"delay_precision must be 'float64' or 'float32', got {self.delay_precision!r}")


PRESETS = {
    "penumbra": Conventions(),
    "pyroomacoustics": Conventions(amplitude="1/r", reflection_sign=1, kernel="sinc_lut", taps=81,
                                   lut_granularity=20, lead_in=40, highpass=(10.0, 2), delay_precision="float32"),
    "gpurir": Conventions(amplitude="1/(4pi r)", reflection_sign=-1),
}


def conventions(spec=None, **overrides) -> Conventions:
    """A :class:`Conventions` from a preset name (``penumbra``, ``pyroomacoustics``, ``gpurir``), an
    instance or None (``penumbra``), with field overrides."""
    if spec is None:
        spec = "penumbra"
    if isinstance(spec, str):
        if spec not in PRESETS:
            raise ValueError(f"unknown conventions preset {spec!r}; presets: {', '.join(PRESETS)}")
        spec = PRESETS[spec]
    if not isinstance(spec, Conventions):
        raise TypeError(f"conventions must be a preset name or a Conventions, got {type(spec).__name__}")
    return dataclasses.replace(spec, **overrides) if overrides else spec
