"""The models a federation may train (``Config.model``): the paper's CNN, ResNet-8 and -20, and the user's own.

:func:`register_model` adds one without editing flsim; each declares its
output layer, whose bias is where the paper looks for the backdoor.
"""

from . import paper_cnn_sgd  # noqa: F401 - registers the paper CNN's written-out SGD step
from .paper_cnn import PaperCNN
from .registry import (MODELS, ModelSpec, builds_float_buffers, has_float_buffers, identity, output_layer_of,
                       register_model, register_sgd_step, sgd_step_for)
from .resnet import ResNet, resnet8, resnet20

for _name, _factory, _output in (("paper_cnn", PaperCNN, "fc2"), ("resnet8", resnet8, "fc"),
                                 ("resnet20", resnet20, "fc")):
    MODELS.add(_name, ModelSpec(_name, _factory, _output, None), built_in=True)

__all__ = ["MODELS", "ModelSpec", "PaperCNN", "ResNet", "identity", "output_layer_of", "register_model",
           "register_sgd_step", "resnet8", "resnet20", "sgd_step_for"]
