"""``python -m fnnet.demo``."""

import sys

from fnnet.demo import main

sys.exit(main())
