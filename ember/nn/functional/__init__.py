"""Stateless neural-network functions, as ``torch.nn.functional``: activations, losses, convolution,
pooling, normalisation and resampling, all composed from ember tensor ops so autograd covers them."""

from .activation import *  # noqa: F403
from .activation import __all__ as _activation
from .attention import *  # noqa: F403
from .attention import __all__ as _attention
from .conv import *  # noqa: F403
from .conv import __all__ as _conv
from .ctc import *  # noqa: F403
from .ctc import __all__ as _ctc
from .dropout import *  # noqa: F403
from .dropout import __all__ as _dropout
from .layers import *  # noqa: F403
from .layers import __all__ as _layers
from .loss import *  # noqa: F403
from .loss import __all__ as _loss
from .pooling import *  # noqa: F403
from .pooling import __all__ as _pooling
from .sampling import *  # noqa: F403
from .sampling import __all__ as _sampling
from .sparse import *  # noqa: F403
from .sparse import __all__ as _sparse

__all__ = [*_activation, *_attention, *_conv, *_ctc, *_dropout, *_layers, *_loss, *_pooling, *_sampling, *_sparse]
