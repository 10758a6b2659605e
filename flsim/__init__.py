"""flsim: a federated-learning backdoor simulator with per-layer update analysis.

Start with :class:`Config` and :func:`run`; the book's chapters show the rest.
"""

__version__ = "0.1.0"

from .cache import CacheWarning  # noqa: E402 - the modules below read __version__
from .config import Config, ConfigError  # noqa: E402
from .data import DatasetNotFoundError  # noqa: E402
from .experiment import run, simulate  # noqa: E402
from .results import DestinationError, Results, ResultsError  # noqa: E402
from .sweep import sweep  # noqa: E402

__all__ = ["CacheWarning", "Config", "ConfigError", "DatasetNotFoundError", "DestinationError", "Results",
           "ResultsError", "run", "simulate", "sweep"]
