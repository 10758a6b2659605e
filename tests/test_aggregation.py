import torch

from flsim.aggregators import fedavg


def test_fedavg_of_identical_models_is_the_identity():
    w = torch.randn(1000)
    assert torch.allclose(fedavg(w.repeat(5, 1)), w, rtol=1e-6, atol=0)  # up to float rounding


def test_fedavg_of_two_models_is_their_mean():
    a, b = torch.randn(100), torch.randn(100)
    assert torch.allclose(fedavg(torch.stack([a, b])), (a + b) / 2)
