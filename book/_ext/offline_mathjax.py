"""Sphinx extension: serve MathJax with the book, so its math renders without internet.

The copy is the one the ``django-static-mathjax`` package ships (MathJax 3, the
``book`` extra installs it): ``tex-svg-full.js`` holds every TeX extension and
draws with SVG, so it needs no font files. ``_config.yml`` points
``mathjax_path`` at it, relative to the built book's ``_static``.
"""

import shutil
from importlib.resources import files

SCRIPT = "tex-svg-full.js"


def _copy_mathjax(app, exception):
    if exception is not None or app.builder.format != "html":
        return
    source = files("mathjax") / "static" / "mathjax" / "es5" / SCRIPT
    target = app.outdir / "_static" / app.config.mathjax_path
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(str(source), target)


def setup(app):
    app.connect("build-finished", _copy_mathjax)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
