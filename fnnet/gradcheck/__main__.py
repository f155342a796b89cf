"""``python -m fnnet.gradcheck``: see :mod:`fnnet.gradcheck.cli`."""

import sys

from fnnet.gradcheck.cli import main

if __name__ == "__main__":
    sys.exit(main())
