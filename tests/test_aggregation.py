import pytest
import torch

from flsim.aggregators import fedavg, fedavg_streamed


def test_fedavg_of_identical_models_is_the_identity():
    w = torch.randn(1000)
    assert torch.allclose(fedavg(w.repeat(5, 1)), w, rtol=1e-6, atol=0)  # up to float rounding


def test_fedavg_of_two_models_is_their_mean():
    a, b = torch.randn(100), torch.randn(100)
    assert torch.allclose(fedavg(torch.stack([a, b])), (a + b) / 2)


def test_streamed_fedavg_is_fedavg_chunk_by_chunk():
    weights = torch.randn(50, 1000)
    assert torch.equal(fedavg_streamed([weights]), fedavg(weights))
    streamed = fedavg_streamed(weights.split(16))  # chunks of 16, 16, 16 and 2 clients
    torch.testing.assert_close(streamed, fedavg(weights), rtol=0, atol=1e-6)
    with pytest.raises(ValueError, match="at least one chunk"):
        fedavg_streamed([])


def test_streamed_fedavg_does_not_depend_on_the_number_of_threads():
    weights = torch.randn(40, 100_003)
    before = torch.get_num_threads()
    try:
        results = []
        for threads in (1, 2):
            torch.set_num_threads(threads)
            results.append(fedavg_streamed(weights.split(16)))
    finally:
        torch.set_num_threads(before)
    assert torch.equal(*results)
