import os

import pytest

from penumbra import renderer  # noqa: F401  (configures libLLVM before drjit is imported)


@pytest.fixture(scope="session", autouse=True)
def variant():
    return renderer.ensure_variant()


@pytest.fixture
def tmp_out(tmp_path):
    return str(tmp_path)


def shared_data(*parts):
    """Path under ../shared/data (present in CI beside the checkout), or None."""
    here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    path = os.path.join(here, "..", "shared", "data", *parts)
    return path if os.path.exists(path) else None
