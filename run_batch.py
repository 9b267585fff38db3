"""dit-batch nightly run: ``python run_batch.py --help``."""

import sys

from pipeline.cli import main

if __name__ == "__main__":
    sys.exit(main())
