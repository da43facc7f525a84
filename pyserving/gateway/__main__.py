"""``python -m pyserving.gateway ...`` (same as ``pyserving gateway ...``)."""

import sys

from pyserving.gateway.cli import main

sys.exit(main(sys.argv[1:]))
