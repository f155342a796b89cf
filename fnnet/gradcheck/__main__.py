"""``python -m fnnet.gradcheck``: see ``fnnet/gradcheck/_cli.py``."""

import sys

from fnnet.gradcheck._cli import main

if __name__ == "__main__":
    sys.exit(main())
