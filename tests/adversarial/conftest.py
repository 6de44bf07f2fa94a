import pytest


@pytest.fixture(scope="module", autouse=True)
def one_torch_thread():
    """torch's OpenMP workers spin against Dr.Jit's on a loaded 2-core machine (a 3 s training took
    42 s): every adversarial test runs torch on one thread."""
    torch = pytest.importorskip("torch", reason="adversarial attacks need PyTorch: pip install 'penumbra[torch]'")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
