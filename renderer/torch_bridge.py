"""PyTorch bridge built on ``dr.wrap``: Dr.Jit computations (renders, rasterizations, impulse
responses) as differentiable functions inside a torch autograd graph. torch is optional; these
functions raise ImportError with the install command when it is missing.
"""
from __future__ import annotations

from typing import Callable, Sequence


def require_torch():
    try:
        import torch  # noqa: F401
    except ImportError as e:  # pragma: no cover - depends on the machine
        raise ImportError("the PyTorch bridge needs torch: pip install 'penumbra[torch]' "
                          "(pinned torch==2.13.0)") from e
    return torch


def torch_function(fn: Callable) -> Callable:
    """Wrap ``fn`` (Dr.Jit arrays in, Dr.Jit arrays out) so that it takes and returns torch tensors
    and propagates gradients both ways (``torch.autograd`` <-> Dr.Jit AD)."""
    require_torch()
    import drjit as dr
    return dr.wrap(source="torch", target="drjit")(fn)


def render_function(scene, params, names: Sequence[str], spp: int = 16, integrator=None,
                    sensor: int = 0) -> Callable:
    """A torch-callable renderer: ``f(seed, *tensors) -> image (H, W, C)``.

    ``params`` is a :class:`scenes.ParameterMap`; ``names`` lists the parameters that the tensors
    set, in order (each tensor has the parameter's NumPy shape, see :mod:`renderer.arrays`).
    """
    import drjit as dr
    import mitsuba as mi
    from .arrays import is_transform

    names = list(names)

    @torch_function
    def f(seed, *values):
        for name, v in zip(names, values):
            current = params[name]
            if dr.depth_v(current) > 1 and not is_transform(current):
                v = dr.unravel(type(current), dr.ravel(v)) if dr.is_tensor_v(v) else v
            params.mitsuba[name] = v if type(v) is type(current) else _cast(current, v)
        params.mitsuba.update()
        return mi.render(scene, params.mitsuba, spp=spp, seed=int(seed), integrator=integrator,
                         sensor=sensor)

    def _cast(current, v):
        import drjit as dr
        flat = dr.ravel(v) if not dr.is_tensor_v(v) else v.array
        return dr.unravel(type(current), flat) if dr.depth_v(current) > 1 else type(current)(flat)

    return f
