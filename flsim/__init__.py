"""flsim: a federated-learning backdoor simulator with per-layer update analysis.

Start with :class:`Config` and :func:`run`; the book's chapters show the rest.
"""

from .config import Config, ConfigError
from .data import DatasetNotFoundError
from .experiment import run, simulate
from .results import Results
from .sweep import sweep

__all__ = ["Config", "ConfigError", "DatasetNotFoundError", "Results", "run", "simulate", "sweep"]
__version__ = "0.1.0"
