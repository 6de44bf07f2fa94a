import pytest

from penumbra import renderer  # noqa: F401  (configures libLLVM before drjit is imported)


@pytest.fixture(scope="session", autouse=True)
def variant():
    return renderer.ensure_variant()


@pytest.fixture
def tmp_out(tmp_path):
    return str(tmp_path)
