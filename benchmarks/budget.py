"""The book's compute budget: each chapter's execution time in the last build, scaled to a
reference machine by the matmul figure measured in the same build.

``python -m benchmarks.budget [_build/execution.json]`` prints the README's budget table
(CI prints it after every build). The report is written by ``book/_ext/execution_report.py``.
"""

from __future__ import annotations

import json
import statistics
import sys
from pathlib import Path

REFERENCE_GFLOPS = 120.0  # the budget is stated at this fp32 matmul figure (CI's 90-minute limit was set there)
DEFAULT_REPORT = Path(__file__).resolve().parents[1] / "_build" / "execution.json"


def table(report: dict, reference_gflops: float = REFERENCE_GFLOPS) -> str:
    """A Markdown table: chapter, seconds here, minutes scaled to ``reference_gflops``, share of the total."""
    measured = statistics.mean(report["matmul_gflops"])
    scale = measured / reference_gflops  # a machine twice as fast takes half the time
    chapters = report["chapters"]
    total = sum(c["seconds"] for c in chapters.values())
    lines = [f"Build of {report['finished']}: fp32 matmul {' -> '.join(map(str, report['matmul_gflops']))} GFLOP/s "
             f"(start -> end); times scaled to {reference_gflops:g} GFLOP/s by x{scale:.2f}.", "",
             f"| chapter | seconds here | minutes at {reference_gflops:g} GFLOP/s | share |",
             "| --- | ---: | ---: | ---: |"]
    for name, chapter in chapters.items():
        mark = "" if chapter["this_build"] else " (not executed in this build)"
        lines.append(f"| {name}{mark} | {chapter['seconds']:.0f} | {chapter['seconds'] * scale / 60:.1f} | "
                     f"{chapter['seconds'] / total:.0%} |")
    lines.append(f"| all chapters | {total:.0f} | {total * scale / 60:.1f} | 100% |")
    lines.append(f"| whole build (Sphinx included) | {report['build_seconds']:.0f} | "
                 f"{report['build_seconds'] * scale / 60:.1f} | |")
    return "\n".join(lines)


if __name__ == "__main__":
    path = Path(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT_REPORT
    print(table(json.loads(path.read_text())))
