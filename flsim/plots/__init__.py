"""Every figure of the book: one seaborn style, fixed sizes, labelled axes with units.

Each function takes Results tables (or plain tensors) and returns a matplotlib
Figure; the chapters show it with its caption under it (:func:`flsim.notebook.figure`).
The figures live by concern; every one is importable from here.
"""

from .detection import defence_tradeoff
from .law import LAW_LABELS, anomaly_law, law_by_rule
from .localisation import (accuracy_curves, bias_shift_ratio, bias_shift_rounds, deviation_heatmap, image_grid,
                           label_counts, layer_auc, layer_ratio, output_bias_by_class, output_layer_zscores,
                           tensor_panels, waterfall)
from .maps import metric_heatmap, plain_number, ratio_maps, regime_maps, threshold_norm
from .style import ROLE_COLORS, WIDTH, role_names, use_style
from .stress import skew_panels
from .sweeps import (SHIFT_NAMES, sweep_accuracy, sweep_bias_shift, sweep_layers, sweep_lines, sweep_roles,
                     tensor_styles)

__all__ = ["LAW_LABELS", "ROLE_COLORS", "SHIFT_NAMES", "WIDTH", "accuracy_curves", "anomaly_law", "bias_shift_ratio",
           "bias_shift_rounds", "defence_tradeoff", "deviation_heatmap", "image_grid", "label_counts", "law_by_rule",
           "layer_auc", "layer_ratio", "metric_heatmap", "output_bias_by_class", "output_layer_zscores",
           "plain_number", "ratio_maps", "regime_maps", "role_names", "skew_panels", "sweep_accuracy",
           "sweep_bias_shift", "sweep_layers", "sweep_lines", "sweep_roles", "tensor_panels", "tensor_styles",
           "threshold_norm", "use_style", "waterfall"]
