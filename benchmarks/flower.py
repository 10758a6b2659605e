"""The same rounds in Flower's simulation: ``python -m benchmarks.flower CLIENTS SAMPLES ROUNDS OUT [CPUS_PER_CLIENT]``.

Flower (``flwr[simulation]``, Ray backend) is installed for the benchmark only,
outside the project's environment (see the Makefile's ``bench`` target). The
ClientApp runs :func:`benchmarks.common.plain_local_training` on the same
client data in the same batch order; the ServerApp runs Flower's FedAvg
(weighted by sample counts, all equal here) from the same initial model.
Round times are taken between the server's per-round evaluation calls, so
Ray's start-up is reported separately. Writes a JSON record to OUT and the
final global weights next to it (OUT with suffix .pt).
"""

from __future__ import annotations

import json
import logging
import os
import sys
import time
from pathlib import Path

import torch
from flwr.app import ArrayRecord, Context, Message, MetricRecord, RecordDict
from flwr.clientapp import ClientApp
from flwr.serverapp import Grid, ServerApp
from flwr.serverapp.strategy import FedAvg
from flwr.simulation import run_simulation

from . import common

# The case travels to Ray's worker processes in their environment.
CLIENTS = int(os.environ.get("BENCH_FLOWER_CLIENTS", "0"))
SAMPLES = int(os.environ.get("BENCH_FLOWER_SAMPLES", "0"))
ROUNDS = int(os.environ.get("BENCH_FLOWER_ROUNDS", "1"))

client_app = ClientApp()
server_app = ServerApp()
marks: list[tuple[int, float]] = []  # (round, time) at each server-side evaluation
final: dict = {}


@client_app.train()
def train(message: Message, context: Context) -> Message:
    client = int(context.node_config["partition-id"])
    x, y = _clients()[client]
    model = common.initial_model()
    model.load_state_dict(message.content["arrays"].to_torch_state_dict())
    round_ = int(message.content["config"]["server-round"])
    common.plain_local_training(model, x, y, common.batch_generator(round_, client))
    reply = RecordDict({"arrays": ArrayRecord(model.state_dict()), "metrics": MetricRecord({"num-examples": len(x)})})
    return Message(content=reply, reply_to=message)


_cache: list = []


def _clients():
    if not _cache:  # once per Ray worker process
        _cache.append(common.client_data(CLIENTS, SAMPLES))
    return _cache[0]


@server_app.main()
def main(grid: Grid, context: Context) -> None:
    strategy = FedAvg(fraction_train=1.0, fraction_evaluate=0.0, min_train_nodes=CLIENTS,
                      min_available_nodes=CLIENTS)
    result = strategy.start(grid=grid, initial_arrays=ArrayRecord(common.initial_model().state_dict()),
                            num_rounds=ROUNDS, evaluate_fn=_mark)
    model = common.initial_model()
    model.load_state_dict(result.arrays.to_torch_state_dict())
    final["model"] = model


def _mark(round_: int, arrays: ArrayRecord) -> MetricRecord | None:
    marks.append((round_, time.perf_counter()))
    return None


class _ExitOnCrash(logging.Handler):
    """Flower logs a crash of its simulation runtime and then waits forever: report it and exit."""

    def __init__(self):
        super().__init__(logging.ERROR)
        self.errors: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage().strip().splitlines()
        self.errors.append(message[-1] if message else "")
        if "crashed" in " ".join(message):
            print("Flower's simulation runtime crashed: " + " / ".join(dict.fromkeys(self.errors)),
                  file=sys.stderr, flush=True)
            os._exit(3)


def run(out: Path, cpus_per_client: float) -> None:
    logging.getLogger("flwr").setLevel(logging.WARNING)
    logging.getLogger("flwr").addHandler(_ExitOnCrash())
    # On a busy machine Ray's agents take longer than its default 30 s to start, and the raylet aborts.
    os.environ.setdefault("RAY_agent_register_timeout_ms", "600000")
    start = time.perf_counter()
    run_simulation(server_app=server_app, client_app=client_app, num_supernodes=CLIENTS,
                   backend_config={"client_resources": {"num_cpus": cpus_per_client, "num_gpus": 0.0},
                                   "init_args": {"include_dashboard": False, "log_to_driver": False}})
    total = time.perf_counter() - start
    times = [t for _, t in marks]
    seconds = [b - a for a, b in zip(times, times[1:])]
    model = final["model"]
    torch.save(common.flat(model), out.with_suffix(".pt"))
    test_x, test_y = common.test_data(5000)
    record = dict(contestant="flower", clients=CLIENTS, samples=SAMPLES, rounds=ROUNDS, round_seconds=seconds,
                  accuracy=common.accuracy(model, test_x, test_y), total_seconds=total,
                  startup_seconds=total - sum(seconds), cpus_per_client=cpus_per_client)
    out.write_text(json.dumps(record))


if __name__ == "__main__":
    clients, samples, rounds, out = sys.argv[1:5]
    os.environ.update(BENCH_FLOWER_CLIENTS=clients, BENCH_FLOWER_SAMPLES=samples, BENCH_FLOWER_ROUNDS=rounds)
    from benchmarks import flower  # under its importable name, as Ray's workers import it

    flower.run(Path(out), float(sys.argv[5]) if len(sys.argv) > 5 else 1.0)
