"""Sphinx extension: the build's execution report, ``_build/execution.json``.

Each chapter's last execution as myst-nb recorded it (run time, whether it
ran in this build), beside the machine's fp32 matmul figure measured when the
build started and when it finished, so a time can be scaled to another
machine. ``python -m benchmarks.budget`` prints it as the README's budget
table; CI prints it after the build.
"""

import json
import time
from pathlib import Path

from flsim.hardware import matmul_flops

REPORT = "execution.json"  # beside the built HTML, in _build


def _measure_at_start(app):
    app.flsim_build_started = time.time()
    app.flsim_matmul_at_start = matmul_flops()


def _write_report(app, exception):
    if exception is not None or app.builder.format != "html":
        return
    from myst_nb.sphinx_ import NbMetadataCollector

    chapters = {}
    for docname, data in sorted(NbMetadataCollector.get_doc_data(app.env).items()):
        run = data.get("exec_data")
        if run and run.get("runtime") is not None:
            chapters[docname] = dict(seconds=round(run["runtime"], 1), succeeded=run["succeeded"],
                                     this_build=run["mtime"] >= app.flsim_build_started)
    report = dict(finished=time.strftime("%Y-%m-%d %H:%M:%S"), build_seconds=round(time.time() - app.flsim_build_started),
                  matmul_gflops=[round(app.flsim_matmul_at_start / 1e9, 1), round(matmul_flops() / 1e9, 1)],
                  chapters=chapters)
    (Path(app.outdir).parent / REPORT).write_text(json.dumps(report, indent=1) + "\n")


def setup(app):
    app.connect("builder-inited", _measure_at_start)
    app.connect("build-finished", _write_report)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
