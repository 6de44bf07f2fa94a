import pytest

from penumbra import renderer  # noqa: F401  (configures libLLVM before drjit is imported)


@pytest.fixture(scope="session", autouse=True)
def variant():
    return renderer.ensure_variant()


@pytest.fixture
def tmp_out(tmp_path):
    return str(tmp_path)


@pytest.fixture(scope="module", autouse=True)
def free_module_scenes():
    """After each test file (its module fixtures finalized), collect the Mitsuba objects left in
    reference cycles: a virtual call traces every live instance of its plugin class in the process,
    so scenes kept alive make every later test's renders slower to trace (DEVELOPERS.md)."""
    yield
    import gc
    gc.collect()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """After a failed test (its report written), clear the locals of the failure's frames and
    collect: pytest keeps the exception (``sys.last_*``, the call info), and a Mitsuba scene left
    attached to the AD graph in those frames would join the AD graph of every later render in this
    worker and fail unrelated tests (DEVELOPERS.md, "A live scene with attached parameters")."""
    yield
    if call.excinfo is not None and call.when == "call":
        import gc
        import traceback
        tb = call.excinfo.tb
        while tb is not None:   # the frames' locals, and the f_locals snapshots pytest made of them
            tb.tb_frame.f_locals.clear()
            tb = tb.tb_next
        traceback.clear_frames(call.excinfo.tb)
        gc.collect()
