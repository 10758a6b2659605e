import pytest

import flsim
from flsim import pretraining

# A tiny but real Fashion-MNIST experiment: seconds on a 2-core CPU.
TINY = dict(num_clients=4, samples_per_client=100, num_rounds=2, eval_samples=200, server_share=0.05)


@pytest.fixture(autouse=True)
def isolated_cache(tmp_path_factory, monkeypatch):
    """Every test gets an empty result cache, and pre-trains its servers anew (flsim.pretraining)."""
    monkeypatch.setenv("FLSIM_CACHE", str(tmp_path_factory.mktemp("cache")))
    pretraining.forget()


@pytest.fixture
def tiny_config():
    return flsim.Config(**TINY)
