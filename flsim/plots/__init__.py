"""Every figure of the book: one seaborn style, fixed sizes, labelled axes with units.

Each function takes Results tables (or plain tensors) and returns a matplotlib
Figure; the chapters show it with its caption under it (:func:`flsim.notebook.figure`).
The figures live by concern; every one is importable from here.
"""

from .detection import defence_tradeoff, detector_sweep
from .law import LAW_LABELS, anomaly_law
from .localisation import (accuracy_curves, bias_shift_ratio, bias_shift_rounds, deviation_heatmap, image_grid,
                           label_counts, layer_auc, layer_ratio, output_bias_by_class, output_layer_zscores,
                           tensor_panels, waterfall)
from .maps import metric_heatmap, plain_number, threshold_norm
from .style import ROLE_COLORS, WIDTH, role_names, use_style
from .sweeps import SHIFT_NAMES, sweep_accuracy, sweep_bias_shift, sweep_layers, sweep_lines, sweep_roles

__all__ = ["LAW_LABELS", "ROLE_COLORS", "SHIFT_NAMES", "WIDTH", "accuracy_curves", "anomaly_law", "bias_shift_ratio",
           "bias_shift_rounds", "defence_tradeoff", "detector_sweep", "deviation_heatmap", "image_grid",
           "label_counts", "layer_auc", "layer_ratio", "metric_heatmap", "output_bias_by_class",
           "output_layer_zscores", "plain_number", "role_names", "sweep_accuracy", "sweep_bias_shift",
           "sweep_layers", "sweep_lines", "sweep_roles", "tensor_panels", "threshold_norm", "use_style",
           "waterfall"]
