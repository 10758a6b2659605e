"""The budget table CI prints after the build (benchmarks/budget.py), from the build's execution report."""

from benchmarks import budget

REPORT = dict(finished="2026-12-02 12:00:00", build_seconds=700, matmul_gflops=[200.0, 240.0],
              chapters={"book/01_theory": dict(seconds=120.0, succeeded=True, this_build=True),
                        "book/04_regimes": dict(seconds=480.0, succeeded=True, this_build=False)})


def test_times_are_scaled_to_the_reference_machine_by_the_measured_matmul_figure():
    rows = budget.table(REPORT, reference_gflops=110.0).splitlines()
    assert "fp32 matmul 200.0 -> 240.0 GFLOP/s" in rows[0] and "x2.00" in rows[0]  # mean 220 of 110
    # 120 s on a machine twice as fast as the reference: 4 minutes there.
    assert "| book/01_theory | 120 | 4.0 | 20% |" in rows
    assert "| book/04_regimes (not executed in this build) | 480 | 16.0 | 80% |" in rows
    assert "| all chapters | 600 | 20.0 | 100% |" in rows
    assert "| whole build (Sphinx included) | 700 | 23.3 | |" in rows
