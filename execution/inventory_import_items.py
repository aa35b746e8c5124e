"""Load the item master CSV into Convex: `python execution/inventory_import_items.py CSV`.

A thin entry point; the implementation (and `qbwc-bridge import-items`) is
`qbwc_bridge.importer`. The path line lets a fresh clone run it from the repo
root before the package is installed.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from qbwc_bridge.importer import main

if __name__ == "__main__":
    sys.exit(main())
