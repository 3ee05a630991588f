"""The frozen program's entry point: the same ``clipdesk`` command as ``pip install`` gives."""

import multiprocessing
import sys

if __name__ == "__main__":
    multiprocessing.freeze_support()
    from clipdesk.cli import main

    sys.exit(main())
