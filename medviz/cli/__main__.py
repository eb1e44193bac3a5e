"""``python -m medviz.cli``: the same as the ``medviz`` console script."""
import sys

from . import main

sys.exit(main())
