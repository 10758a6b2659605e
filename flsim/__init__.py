"""flsim: a federated-learning backdoor simulator with per-layer update analysis.

Start with :class:`Config` and :func:`run`; the book's chapters show the rest.
Bring your own model (:func:`register_model`), aggregation rule
(:func:`register_aggregator`), detector (:func:`register_detector`), attack step
(:func:`register_attack_step`) or semantic backdoor (``Config.semantic_indices``);
:func:`setup` gives the federation a run starts from.
"""

__version__ = "0.1.0"

from .aggregators import register_aggregator  # noqa: E402 - the modules below read __version__
from .attacks.submission import register_attack_step  # noqa: E402
from .cache import CacheWarning, UnsafeCacheError  # noqa: E402
from .config import Config, ConfigError  # noqa: E402
from .data import DatasetNotFoundError  # noqa: E402
from .detectors import register_detector  # noqa: E402
from .experiment import run, simulate  # noqa: E402
from .federation import Federation, setup  # noqa: E402
from .models import register_model  # noqa: E402
from .panels import panel, panel_configs  # noqa: E402
from .results import DestinationError, Results, ResultsError  # noqa: E402
from .sweep import sweep  # noqa: E402

__all__ = ["CacheWarning", "Config", "ConfigError", "DatasetNotFoundError", "DestinationError", "Federation",
           "Results", "ResultsError", "panel", "panel_configs", "register_aggregator", "register_attack_step", "register_detector", "register_model", "run", "setup",
           "simulate", "sweep", "UnsafeCacheError"]
