"""Run every benchmark side by side and print the table: ``python -m benchmarks`` (or ``make bench``).

Exits non-zero when the analysed round falls below :data:`GATES` (not with ``--quick``).

Options: ``--quick`` (tiny cases, one repeat: checks that everything runs),
``--repeats N``, ``--no-flower``, ``--batched`` (adds flsim's batched backend
on CPU), ``--out FILE``. Writes the JSON record to
benchmarks/results/bench-<time>.json (and latest.json). See benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

from . import common, hardware

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
# Flower lives outside the project's environment (see the Makefile's bench target).
FLOWER_SITE = Path(os.environ.get("BENCH_FLOWER_SITE", Path(sys.prefix) / "flower"))

# (clients, samples per client, rounds); rounds sized so that `make bench` stays near 10 minutes.
CASES = [(10, 5000, 1), (100, 100, 3), (1000, 10, 3)]
QUICK_CASES = [(4, 500, 1), (20, 50, 1), (100, 5, 1)]
FLOWER_CASES = [(100, 100), (1000, 10)]
# The gate: the least speed-up of the analysed round (simulate's default) over the plain loop, per case.
GATES = {(100, 100): 1.2, (1000, 10): 1.0}


def run(args: list[str], out: Path, env: dict | None = None, timeout: float = 3600) -> dict:
    """A benchmark step in a fresh process; its JSON record, or the reason it has none."""
    start = time.perf_counter()
    try:
        done = subprocess.run([sys.executable, *args, str(out)], cwd=ROOT, env={**os.environ, **(env or {})},
                              capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return dict(error=f"timed out after {timeout:.0f} s")
    if done.returncode != 0 or not out.exists():
        lines = [l for l in (done.stderr + done.stdout).splitlines() if l.strip()]
        return dict(error=f"exit {done.returncode}: " + " | ".join(lines[-6:]))
    record = json.loads(out.read_text())
    record["process_seconds"] = time.perf_counter() - start
    return record


def median_round(record: dict) -> float:
    return statistics.median(record["round_seconds"])


def weight_difference(a: Path, b: Path) -> float:
    return float((torch.load(a.with_suffix(".pt")) - torch.load(b.with_suffix(".pt"))).abs().max())


def hardware_section(trials: int, work: Path) -> dict:
    section = {}
    for threads in (None, 1):
        label = "1 thread, CPU time" if threads == 1 else f"{torch.get_num_threads()} threads, wall time"
        env = {"BENCH_THREADS": str(threads)} if threads else {}
        section[label] = {}
        for contestant in ("flsim", "plain"):
            out = work / f"hardware-{contestant}-{threads}.json"
            record = run(["-m", "benchmarks.hardware", contestant, str(trials)], out, env)
            section[label][contestant] = record if "error" in record else {**record, **hardware.summary(record)}
    return section


def peers_section(cases, repeats: int, batched: bool, work: Path) -> list[dict]:
    rows = []
    for clients, samples, rounds in cases:
        contestants = ["flsim", "plain", "flsim-clients", "flsim-analysed"] + (["flsim-batched"] if batched else [])
        if (clients, samples, rounds) == cases[-1]:  # the most clients: measure the per-client overhead
            contestants += ["flsim-single", "plain-single"]
        records = {c: [] for c in contestants}
        for repeat in range(repeats):
            order = contestants if repeat % 2 == 0 else contestants[::-1]  # alternate who goes first
            for contestant in order:
                out = work / f"{contestant}-{clients}x{samples}-{repeat}.json"
                record = run(["-m", "benchmarks.case", contestant, str(clients), str(samples), str(rounds)], out)
                if "error" in record:
                    raise SystemExit(f"{contestant} {clients}x{samples} failed: {record['error']}")
                record["file"] = str(out)
                records[contestant].append(record)
        rows.append(summarise_case(clients, samples, rounds, records))
    return rows


def summarise_case(clients, samples, rounds, records) -> dict:
    seconds = {c: statistics.median(median_round(r) for r in rs) for c, rs in records.items()}
    first = {c: rs[0] for c, rs in records.items()}
    row = dict(clients=clients, samples=samples, rounds=rounds, repeats=len(records["flsim"]),
               round_seconds=seconds,
               speedup_vs_plain=seconds["plain"] / seconds["flsim"],
               speedup_analysed_vs_plain=seconds["plain"] / seconds["flsim-analysed"],
               analysis_overhead=seconds["flsim-analysed"] / seconds["flsim"] - 1,
               ms_per_1000_samples={c: 1e6 * s / (clients * samples) for c, s in seconds.items()},
               accuracy={c: r["accuracy"] for c, r in first.items()},
               max_weight_difference_vs_plain=weight_difference(Path(first["flsim"]["file"]), Path(first["plain"]["file"])),
               peak_extra_mb={c: max(r["peak_extra_bytes"] for r in rs) / 2 ** 20 for c, rs in records.items()},
               data_mb=first["flsim"]["data_bytes"] / 2 ** 20,
               model_mb=common.model_bytes() / 2 ** 20,
               raw={c: [{k: v for k, v in r.items() if k != "file"} for r in rs] for c, rs in records.items()},
               _files={c: Path(r["file"]) for c, r in first.items()})
    if "flsim-single" in seconds:  # the same steps with fewer clients: the difference is per-client work
        row["per_client_overhead_ms"] = {
            c: 1000 * (seconds[c] - seconds[f"{c}-single"]) / (clients - first[f"{c}-single"]["trained_clients"])
            for c in ("flsim", "plain")}
    if "flsim-batched" in seconds:
        row["speedup_batched_vs_plain"] = seconds["plain"] / seconds["flsim-batched"]
    steps = [step for r in records["flsim-analysed"] for step in r["step_seconds"]]
    row["analysed_step_seconds"] = {name: statistics.median(step[name] for step in steps) for name in steps[0]}
    return row


def gate(rows: list[dict]) -> list[str]:
    """Where the analysed round is slower than :data:`GATES` allows, one line each (none: passed)."""
    failures = []
    for r in rows:
        least = GATES.get((r["clients"], r["samples"]))
        if least is not None and r["speedup_analysed_vs_plain"] < least:
            steps = ", ".join(f"{name} {seconds:.2f} s" for name, seconds in r["analysed_step_seconds"].items()
                              if name != "median")  # not in the default round
            failures.append(f"{r['clients']} x {r['samples']}: the analysed round is "
                            f"{r['speedup_analysed_vs_plain']:.2f}x the plain loop, below the gate of {least}x "
                            f"(its steps: {steps})")
    return failures


def flower_section(cases, rows, work: Path) -> list[dict]:
    env = {"PYTHONPATH": os.pathsep.join(filter(None, [str(FLOWER_SITE), str(ROOT), os.environ.get("PYTHONPATH")]))}
    results = []
    for clients, samples in cases:
        row = next(r for r in rows if (r["clients"], r["samples"]) == (clients, samples))
        out = work / f"flower-{clients}x{samples}.json"
        for attempt in range(3):  # Ray's start-up times out on a loaded machine now and then
            record = run(["-m", "benchmarks.flower", str(clients), str(samples), str(row["rounds"])], out, env,
                         timeout=1800)
            if "timed out during startup" not in record.get("error", ""):
                break
        record["attempts"] = attempt + 1
        entry = dict(clients=clients, samples=samples, rounds=row["rounds"], flower=record)
        if "error" not in record:
            entry.update(
                round_seconds=median_round(record), flsim_round_seconds=row["round_seconds"]["flsim"],
                speedup_vs_flower=median_round(record) / row["round_seconds"]["flsim"],
                accuracy=dict(flower=record["accuracy"], flsim=row["accuracy"]["flsim"]),
                max_weight_difference_vs_flsim=weight_difference(out, row["_files"]["flsim"]))
        results.append(entry)
    return results


def table(report: dict) -> str:
    lines = ["", f"flsim benchmarks on {report['machine']['cpu']} ({report['machine']['threads']} threads), "
             f"{report['date']}", ""]
    lines.append("Training step, paper CNN, batch 64: samples/s and fraction of the measured fp32 matmul FLOP/s")
    for label, contestants in report["hardware"].items():
        for name, r in contestants.items():
            if "error" in r:
                lines.append(f"  {label:22s} {name:6s} failed: {r['error']}")
                continue
            lines.append(f"  {label:22s} {name:6s} {r['samples_per_second']:7.0f} samples/s  "
                         f"{100 * r['fraction_of_matmul']:5.1f}% of {r['matmul_gflops']:.0f} GFLOP/s")
    lines += ["", "One FedAvg round (median seconds), flsim vs the plain PyTorch loop:",
              f"  {'clients x samples':>18s} {'flsim s':>8s} {'plain s':>8s} {'speed-up':>8s} "
              f"{'ms/1k smp':>9s} {'acc flsim/plain':>15s} {'max|dw|':>8s} {'peak MB flsim/plain':>19s} {'data MB':>7s}"]
    for r in report["peers"]:
        s = r["round_seconds"]
        lines.append(
            f"  {r['clients']:>8d} x {r['samples']:<7d} {s['flsim']:8.2f} {s['plain']:8.2f} {r['speedup_vs_plain']:7.2f}x "
            f"{r['ms_per_1000_samples']['flsim']:9.0f} {r['accuracy']['flsim']:7.4f}/{r['accuracy']['plain']:.4f} "
            f"{r['max_weight_difference_vs_plain']:8.1e} {r['peak_extra_mb']['flsim']:9.0f}/{r['peak_extra_mb']['plain']:<9.0f} "
            f"{r['data_mb']:7.0f}")
        lines.append(f"  {'':>18s} holding the round's models (record='clients'): "
                     f"{s['flsim-clients']:.2f} s, peak {r['peak_extra_mb']['flsim-clients']:.0f} MB")
        lines.append(f"  {'':>18s} and analysing them (simulate's default round): {s['flsim-analysed']:.2f} s, "
                     f"{100 * r['analysis_overhead']:+.0f}% over flsim, {r['speedup_analysed_vs_plain']:.2f}x the "
                     f"plain loop, peak {r['peak_extra_mb']['flsim-analysed']:.0f} MB")
        steps = r["analysed_step_seconds"]
        lines.append(f"  {'':>18s} where its time goes (s): " + ", ".join(
            f"{name} {seconds:.2f}" for name, seconds in steps.items() if name != "median")
            + f"; record='clients+median' adds {steps['median']:.2f}")
        if "per_client_overhead_ms" in r:
            o = r["per_client_overhead_ms"]
            lines.append(f"  {'':>18s} per-client overhead: flsim {o['flsim']:.2f} ms, plain {o['plain']:.2f} ms")
        if "speedup_batched_vs_plain" in r:
            lines.append(f"  {'':>18s} flsim batched backend: {r['round_seconds']['flsim-batched']:.2f} s "
                         f"({r['speedup_batched_vs_plain']:.2f}x the plain loop)")
    lines.append(f"  (flsim: FedAvg summing chunks of clients as they finish, record='rounds'; one model: "
                 f"{report['peers'][0]['model_mb']:.2f} MB;\n   peak MB: resident memory the rounds added above what "
                 "the process held before them)")
    if report.get("flower"):
        lines += ["", "One FedAvg round, flsim vs Flower's simulation (Ray backend):"]
        for r in report["flower"]:
            if "error" in r["flower"]:
                lines.append(f"  {r['clients']} x {r['samples']}: Flower failed: {r['flower']['error'][:600]}")
                continue
            lines.append(f"  {r['clients']:>5d} x {r['samples']:<5d} flsim {r['flsim_round_seconds']:7.2f} s  "
                         f"Flower {r['round_seconds']:7.2f} s  speed-up {r['speedup_vs_flower']:5.2f}x  "
                         f"accuracy {r['accuracy']['flsim']:.4f}/{r['accuracy']['flower']:.4f}  "
                         f"max|dw| {r['max_weight_difference_vs_flsim']:.1e}  "
                         f"(Flower start-up {r['flower']['startup_seconds']:.0f} s)")
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="tiny cases, one repeat: check that everything runs")
    parser.add_argument("--repeats", type=int, default=None, help="repeats per case (default 2; quick: 1)")
    parser.add_argument("--trials", type=int, default=None, help="trials of the hardware section (default 7)")
    parser.add_argument("--no-flower", action="store_true", help="skip Flower")
    parser.add_argument("--batched", action="store_true", help="also time flsim's batched backend on CPU")
    parser.add_argument("--out", type=Path, help="JSON file (default benchmarks/results/bench-<time>.json)")
    args = parser.parse_args(argv)
    cases = QUICK_CASES if args.quick else CASES
    repeats = args.repeats or (1 if args.quick else 2)
    trials = args.trials or (2 if args.quick else 7)
    began = time.perf_counter()
    report = dict(date=time.strftime("%Y-%m-%d %H:%M"), quick=args.quick,
                  machine=dict(cpu=platform.processor() or platform.machine(), cores=os.cpu_count(),
                               threads=torch.get_num_threads(), torch=torch.__version__,
                               load_average_before=os.getloadavg()))
    with tempfile.TemporaryDirectory() as scratch:
        work = Path(scratch)
        print("hardware ...", flush=True)
        report["hardware"] = hardware_section(trials, work)
        print("flsim vs plain PyTorch ...", flush=True)
        report["peers"] = peers_section(cases, repeats, args.batched, work)
        if not args.no_flower:
            print("flsim vs Flower ...", flush=True)
            flower_cases = [(k, n) for k, n, _ in cases[1:]] if args.quick else FLOWER_CASES
            report["flower"] = flower_section(flower_cases, report["peers"], work)
    for row in report["peers"]:
        del row["_files"]
    report["machine"]["load_average_after"] = os.getloadavg()
    report["seconds"] = time.perf_counter() - began
    report["gate_failures"] = [] if args.quick else gate(report["peers"])
    text = table(report)
    print(text)
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = args.out or RESULTS / f"bench-{time.strftime('%Y%m%d-%H%M%S')}.json"
    out.write_text(json.dumps(report, indent=1))
    (RESULTS / "latest.json").write_text(json.dumps(report, indent=1))
    print(f"\n{report['seconds'] / 60:.1f} min; written to {out}")
    if report["gate_failures"]:
        print("\nGATE FAILED:\n  " + "\n  ".join(report["gate_failures"]), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
