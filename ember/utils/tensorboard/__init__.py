"""TensorBoard logging, imported as in PyTorch: ``from ember.utils.tensorboard import SummaryWriter``.

Writing event files needs the optional ``tensorboardX`` package (``pip install 'ember[tensorboard]'``);
importing this module does not, creating a ``SummaryWriter`` does.
"""

from .writer import SummaryWriter

__all__ = ["SummaryWriter"]
