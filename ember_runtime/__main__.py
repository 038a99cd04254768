"""``python -m ember_runtime inspect|run|bench``: the runtime's command line (see :mod:`ember_runtime.cli`)."""

import sys

from .cli import main

sys.exit(main())
