"""dit-batch nightly run: ``python run_batch.py --help``."""

import sys

if __name__ == "__main__":
    try:
        from pipeline.cli import main

        sys.exit(main())
    except KeyboardInterrupt:  # Ctrl-C before the run installed its own handlers
        sys.stderr.write("Arrêt demandé avant le début du passage : rien n'a été envoyé.\n")
        sys.exit(8)
