"""``python -m bench``: the whole benchmark suite with same-run baselines (see bench/README.md)."""

import sys

from bench.suite import main

sys.exit(main())
