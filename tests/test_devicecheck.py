"""The device check (flsim/devicecheck.py): on a CPU-only machine, a round whose tensors would meet on
two devices on a GPU fails, and every rule, attack and backend passes it."""

import pytest
import torch

import flsim
from flsim.aggregators import Server
from flsim.detectors import DETECTORS
from flsim.devicecheck import DeviceMismatch, checking_devices
from flsim.experiment import simulate_rounds
from flsim.federation import build
from flsim.workers import WorkerPool


def test_a_tensor_made_without_a_device_fails_where_it_meets_the_weights():
    weights = torch.randn(6, 4)

    def krum_as_it_was(scores):  # a CPU mask indexed with the weights' indices: refused on CUDA
        chosen = torch.zeros(len(weights), dtype=torch.bool)
        chosen[scores.argsort()[:1]] = True
        return weights[chosen]

    krum_as_it_was(weights.sum(1))  # nothing tells without the check
    with checking_devices(), pytest.raises((DeviceMismatch, RuntimeError)):
        krum_as_it_was(weights.sum(1))


def test_tensors_of_two_devices_in_one_call_are_named():
    with checking_devices(), pytest.raises(DeviceMismatch, match="got tensors on cpu, meta"):
        torch.add(torch.ones(3, device="cpu"), torch.ones(3, device="meta"))


def test_draws_from_a_cpu_generator_stay_on_the_cpu_and_explicit_devices_are_kept():
    with checking_devices():
        drawn = torch.randn(3, generator=torch.Generator().manual_seed(0))
        explicit = torch.zeros(3, device="cpu")
        forgotten = torch.zeros(3)
        kept = torch.as_tensor(explicit)
    assert drawn.device.type == explicit.device.type == kept.device.type == "cpu"
    assert forgotten.device.type == "meta"
    assert torch.zeros(3).device.type == "cpu"  # only inside the block


def test_worker_threads_run_under_the_callers_check():
    pool, items = WorkerPool(2), [torch.ones(3), torch.ones(3)]  # on the CPU
    try:
        with checking_devices(), pytest.raises((DeviceMismatch, RuntimeError)):
            pool.map(lambda x: x + torch.zeros(3), items)  # the worker's zeros: meta
        assert [t.sum().item() for t in pool.map(lambda x: x + torch.zeros(3), items)] == [3.0, 3.0]
    finally:
        pool.shutdown()


RULES = ["fedavg", "median", "trimmed_mean", "krum", "multi_krum", "norm_clip", "foolsgold", "flame", "rlr",
         "bias_filter", "deepsight"]
ATTACKS = [dict(attack="trigger"), dict(attack="trigger", trigger_parts=2, num_malicious=2), dict(attack_scale=10.0),
           dict(lp_threshold=0.9), dict(neurotoxin_top=0.1, num_rounds=2),
           dict(adaptive="output_bias"), dict(adaptive="output_layer"), dict(attack_norm_bound=1.0),
           dict(clients_per_round=5), dict(record="rounds"), dict(attack="none")]


SMALL = dict(num_clients=6, samples_per_client=40, num_rounds=1, eval_samples=50, server_share=0.02, krum_f=1,
             device="cpu")


def test_every_rule_keeps_to_the_weights_device():
    """One round trained and analysed under the check, then every rule aggregates it under the check."""
    federation = build(flsim.Config(**SMALL), workers=2)  # the data and model are made on the CPU, then moved
    round_ = federation.round(1)
    with checking_devices():
        weights = federation.trainer.train_clients(federation.global_weights, round_.datasets, 1, round_.orders)
        for rule in RULES:
            server = Server(federation.config.replace(aggregator=rule), federation.trainer.layers,
                            torch.Generator().manual_seed(0))
            aggregated = server.aggregate(weights, federation.global_weights, round_.chosen)
            assert aggregated.weights.shape == federation.global_weights.shape, rule


@pytest.mark.parametrize("backend", ["sequential", "batched"])
def test_every_attack_and_detector_keeps_to_the_weights_device(backend, monkeypatch):
    monkeypatch.setenv("FLSIM_BACKEND", backend)
    cases = [dict(aggregator="krum")] + ATTACKS
    if backend == "batched":  # only the training differs: a round of each of its paths
        cases = [dict(attack="trigger", trigger_parts=2, num_malicious=2), dict(record="rounds")]
    for settings in cases:
        config = flsim.Config(**SMALL).replace(**settings)
        federation = build(config, workers=2)  # the data and model are made on the CPU, then moved
        with checking_devices():
            results = simulate_rounds(federation)
        assert len(results.rounds) == config.num_rounds + 1, settings
        if config.record == "clients":
            assert set(results.detection.detector) == set(DETECTORS), settings


def test_chapter_ones_probes_keep_to_the_weights_device():
    """The gradient probes of chapter 1 (flsim.analysis, flsim.theory) on a round's real data, under the check."""
    from flsim import analysis, theory

    config = flsim.Config(**SMALL)
    federation = build(config, workers=1)
    trainer, weights, round_ = federation.trainer, federation.global_weights, federation.round(1)
    x, y = round_.datasets[0]
    marked = torch.zeros(len(y), dtype=torch.bool, device=y.device)
    marked[:5] = True
    with checking_devices():
        gradients = analysis.client_gradients(trainer, weights, round_.datasets)
        malicious = [True] + [False] * (len(round_.datasets) - 1)
        zscores = analysis.output_layer_zscores(gradients, malicious, trainer.layers, config.target_class)
        terms = analysis.output_bias_terms(trainer, weights, x, y, marked, config.target_class, round_.orders[0])
        features = torch.rand(len(y), 8, generator=torch.Generator().manual_seed(0)).to(y.device)
        overlap = analysis.mean_overlap(features)
        dW, db = theory.output_layer_gradients(features, torch.ones(10, 8, device=y.device),
                                               torch.zeros(10, device=y.device), y)
    assert len(zscores) > 0 and set(terms) >= {"bias_change", "poisoned_labels"} and overlap > 0
    assert dW.shape == (10, 8) and abs(float(db.sum())) < 1e-5
