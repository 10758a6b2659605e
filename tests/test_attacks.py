import pytest
import torch

from flsim import attacks
from flsim.attacks import Backdoor, poison_positions


def reference_positions(num_samples, num_malicious, rate):
    """The reference notebook's loop, transcribed: which positions get a backdoor image."""
    return [i for i in range(num_samples) if i % (num_malicious * rate) == 0]


@pytest.mark.parametrize("n, m, r", [(4543, 1, 10), (4543, 3, 10), (100, 2, 1), (7, 1, 10), (500, 4, 3)])
def test_poison_positions_follow_the_paper_rule(n, m, r):
    assert poison_positions(n, m, r).tolist() == reference_positions(n, m, r)


def test_semantic_poison_cycles_the_backdoor_images_and_keeps_the_size():
    images = torch.stack([torch.full((1, 2, 2), float(v)) for v in (0.1, 0.2, 0.3)])
    backdoor = Backdoor("semantic", 2, torch.tensor([]), images, images, torch.full((3,), 2))
    x, y = torch.zeros(50, 1, 2, 2), torch.full((50,), 7)
    px, py = backdoor.poison(x, y, num_malicious=2, malicious_data_rate=5)
    positions = [0, 10, 20, 30, 40]
    assert px.shape == x.shape and py.shape == y.shape
    assert [px[p, 0, 0, 0].item() for p in positions] == pytest.approx([0.1, 0.2, 0.3, 0.1, 0.2])
    assert py[positions].eq(2).all() and py[[p for p in range(50) if p not in positions]].eq(7).all()
    assert x.eq(0).all() and y.eq(7).all()  # the inputs are untouched


def test_trigger_stamps_the_clients_own_images():
    x = torch.full((20, 1, 8, 8), 0.5)
    backdoor = Backdoor("trigger", 0, torch.tensor([]), None, x, torch.zeros(20))
    px, py = backdoor.poison(x, torch.full((20,), 3), 1, 10)
    assert py.tolist() == [0] + [3] * 9 + [0] + [3] * 9
    assert not torch.equal(px[0], x[0]) and torch.equal(px[1], x[1])
    patch = px[0, 0, -5:-1, -5:-1]
    assert patch.tolist() == [[0, 1, 0, 1], [1, 0, 1, 0], [0, 1, 0, 1], [1, 0, 1, 0]]
    assert px[0, 0, :3].eq(0.5).all()  # the rest of the image is kept


class FakeDataset:
    name = "fashion_mnist"
    train_x = torch.rand(60000, 1, 8, 8)
    test_x = torch.rand(30, 1, 8, 8)
    test_y = torch.arange(30) % 10


def test_backdoor_evaluation_sets():
    semantic = attacks.make_backdoor("semantic", FakeDataset, 2)
    indices = attacks.SEMANTIC_SETS["fashion_mnist"]["striped_tshirts"]
    assert semantic.excluded.tolist() == list(indices)
    assert torch.equal(semantic.eval_x, FakeDataset.train_x[list(indices)]) and semantic.eval_y.eq(2).all()
    trigger = attacks.make_backdoor("trigger", FakeDataset, 2)
    assert len(trigger.eval_x) == 27 and trigger.eval_y.eq(2).all()  # test images not of class 2
    assert attacks.make_backdoor("none", FakeDataset, 2) is None


def test_cifar_sets_are_the_papers():
    sets = attacks.SEMANTIC_SETS["cifar10"]
    assert (len(sets["racing_stripes"]), len(sets["green_cars"]), len(sets["striped_wall"])) == (22, 30, 12)
    assert sets["racing_stripes"][0] == 2180 and sets["striped_wall"][-1] == 41706


def test_the_fashion_mnist_sets_are_what_their_comments_say():
    """striped_tshirts are T-shirts, flat_sandals the 20 sandals with the least ink (the rule, re-derived)."""
    from flsim import data

    dataset = data.load("fashion_mnist")
    sets = attacks.SEMANTIC_SETS["fashion_mnist"]
    assert set(dataset.train_y[list(sets["striped_tshirts"])].tolist()) == {0}
    sandals = torch.nonzero(dataset.train_y == 5).flatten()
    ink = (dataset.train_x[sandals] * 255).round().sum((1, 2, 3))
    least = sandals[ink.argsort(stable=True)[:20]]
    assert sets["flat_sandals"] == tuple(sorted(least.tolist()))
    assert dataset.classes[5] == "Sandal" and dataset.classes[2] == "Pullover"
