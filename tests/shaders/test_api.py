"""The shader API: parameters through the ParameterSet protocol and mi.traverse, bad input errors."""
import numpy as np
import pytest

import drjit as dr
import mitsuba as mi

from penumbra.renderer import ensure_variant

ensure_variant()
from penumbra import shaders as sh
from penumbra.scenes.errors import ParameterError


def disc(uv, p):
    return sh.mix(sh.circle(uv, p["c"], p["r"]), p["a"], 0.0)


def test_parameters_protocol_and_levels():
    S = sh.Shader(disc, {"c": [0.5, 0.5], "r": 0.25, "a": [1, 0, 0]}, ranges={"r": (0.0, 1.0)})
    P = S.parameters()
    assert P.keys() == ["c", "r", "a"] and P.differentiable() == ["c", "r", "a"]
    P.update({"r": 0.3})
    assert float(np.array(S.values["r"])[0]) == pytest.approx(0.3)
    with pytest.raises(ParameterError, match="'r'"):
        P["r"] = 2.0
    value, levels = S(mi.Point2f(mi.Float(0.5, 0.95), mi.Float(0.5, 0.5)))
    assert np.allclose(np.array(value)[0], [1, 0])  # inside / outside
    assert len(levels) == 1 and np.allclose(np.array(levels[0]), [0.3, -0.15], atol=1e-6)


def test_bad_inputs_name_the_parameter():
    with pytest.raises(ParameterError, match="'v'"):
        sh.Shader(disc, {"v": np.zeros((2, 3))})
    with pytest.raises(ParameterError, match="'r'"):
        sh.Shader(disc, {"r": float("nan")})
    with pytest.raises(TypeError, match="fn"):
        sh.Shader(3, {})
    with pytest.raises(KeyError, match="radius"):
        sh.Shader(lambda uv, p: p["radius"], {"r": 0.2})(mi.Point2f(0.5, 0.5))


def test_texture_plugin_exposes_parameters():
    S = sh.Shader(disc, {"c": [0.5, 0.5], "r": 0.25, "a": [1, 0, 0]})
    bsdf = mi.load_dict({"type": "diffuse", "reflectance": sh.shader_texture(S)})
    mp = mi.traverse(bsdf)
    assert {"reflectance.c", "reflectance.r", "reflectance.a"} <= set(mp.keys())
    mp["reflectance.r"] = mi.Float(0.4)
    mp.update()
    assert float(np.array(S.values["r"])[0]) == pytest.approx(0.4)
    with pytest.raises(Exception, match="no shader registered"):
        mi.load_dict({"type": "shader", "shader": "missing"})


def test_plain_select_is_invisible():
    """A plain dr.select records no level function (documented limitation)."""
    S = sh.Shader(lambda uv, p: dr.select(uv[0] > p["t"], 1.0, 0.0), {"t": 0.5})
    assert S.levels(mi.Point2f(0.2, 0.3)) == []
