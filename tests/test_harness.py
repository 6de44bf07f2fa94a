"""The gradient-check harness itself (tests/harness): the on-disk FD cache computes on a cold run,
reuses on a warm one, recomputes a corrupted entry and misses when the configuration changes; the
tolerance model names the thresholds that fail; central differences and the Dr.Jit directional
derivatives agree on a known function; the adjoint assertion catches a mismatch."""
import numpy as np
import pytest

from tests.harness import FDCache, Tolerance, central_differences, compare, directional_derivatives
from tests.harness.adjoint import assert_adjoint
from tests.harness.cache import ENV, config_hash


def _counting(f):
    calls = []

    def g(x):
        calls.append(1)
        return f(x)
    return g, calls


def test_cache_cold_warm_corrupt_and_key(tmp_path, monkeypatch):
    monkeypatch.setenv(ENV, str(tmp_path))
    f, calls = _counting(lambda x: float(np.sum(np.sin(x) * x)))
    x0, config = np.array([0.3, -1.2]), {"what": "sin x * x"}
    cold = central_differences(f, x0, 1e-4, config=config)
    assert len(calls) == 4 and len(list(tmp_path.glob("*.npz"))) == 1
    warm = central_differences(f, x0, 1e-4, config=config)
    assert len(calls) == 4 and np.array_equal(cold, warm)          # reused, bit for bit
    np.testing.assert_allclose(cold, np.sin(x0) + x0 * np.cos(x0), rtol=1e-6)
    # another step, another configuration: a miss each
    central_differences(f, x0, 2e-4, config=config)
    central_differences(f, x0, 1e-4, config={"what": "other"})
    assert len(calls) == 12
    # corrupted entries (truncated file, garbage, tampered value) are recomputed, never trusted
    for entry in tmp_path.glob("*.npz"):
        entry.write_bytes(entry.read_bytes()[:40])
    again = central_differences(f, x0, 1e-4, config=config)
    assert len(calls) == 16 and np.array_equal(again, cold)
    cache = FDCache(tmp_path)
    key = config_hash({"a": 1})
    cache.store(key, np.array([1.0, 2.0]), {"a": 1})
    with np.load(cache.path(key)) as z:
        fields = dict(z)
    fields["value"] = np.array([1.0, 3.0])                         # tampered: checksum no longer matches
    np.savez(cache.path(key), **fields)
    assert cache.load(key) is None
    assert cache.get_or_compute({"a": 1}, lambda: np.array([5.0])).tolist() == [5.0]
    assert cache.load(key).tolist() == [5.0]


def test_cache_off(tmp_path, monkeypatch):
    monkeypatch.setenv(ENV, "off")
    f, calls = _counting(lambda x: float(x[0] ** 2))
    central_differences(f, [1.0], 1e-3, config={"x": 1})
    central_differences(f, [1.0], 1e-3, config={"x": 1})
    assert len(calls) == 4


def test_tolerance_names_the_failing_thresholds():
    ref = np.array([1.0, -2.0, 0.5, 0.0])
    good = compare(ref * 1.01, ref).check(Tolerance(mean_rel=0.02, rel_l2=0.02, sum_rel=0.02, sign=1.0, rtol=0.02))
    assert good.rel_l2 == pytest.approx(0.01)
    bad = compare(-ref, ref)
    fails = bad.failures(Tolerance(mean_rel=0.05, sum_rel=0.02, sign=1.0, rtol_max=0.1, atol=0.01))
    assert [f.split(":")[0] for f in fails] == ["mean_rel", "sum_rel", "sign", "entrywise"]
    with pytest.raises(AssertionError, match="sign"):
        bad.check(Tolerance(sign=1.0))
    with pytest.raises(ValueError, match="rtol"):
        Tolerance(rtol=-1)
    with pytest.raises(ValueError, match="step h"):
        central_differences(lambda x: 0.0, [1.0], 0.0)


def test_directional_derivatives_forward_reverse_and_fd_agree():
    import drjit as dr
    import mitsuba as mi

    def loss(x):
        return dr.sum(dr.sin(x) * x * x)

    x0 = np.array([0.2, 1.1, -0.7])
    dirs = np.array([[1.0, 0, 0], [0.3, -0.4, 0.5]])
    fd = central_differences(lambda x: float(np.sum(np.sin(x) * x * x)), x0, 1e-5, dirs)
    for mode in ("reverse", "forward"):
        ad = directional_derivatives(loss, x0, dirs, mode, array_type=mi.Float64)
        compare(ad, fd).check(Tolerance(rtol=1e-7, atol=1e-9), mode)
    with pytest.raises(ValueError, match="mode"):
        directional_derivatives(loss, x0, dirs, "sideways", array_type=mi.Float64)


def test_adjoint_assertion():
    fwd, w = np.array([1.0, 2.0]), np.array([0.5, 0.25])
    assert_adjoint(fwd, w, 1.0, rel=1e-6)
    with pytest.raises(AssertionError, match="adjoint"):
        assert_adjoint(fwd, w, 1.01, rel=1e-4)
