"""Run a sweep: ``python platform/sweep.py --space search_spaces/quickstart.yaml``.

Thin entry point. platform/ deliberately has no __init__.py (it would shadow the standard library's
``platform`` module that ray, torch and uuid import), so this file puts the engine package
(platform/sweepbed) and the repository root (trainables/, results_analysis/) on sys.path.
"""

import sys
from pathlib import Path

_HERE = Path(__file__).resolve().parent
for _path in (str(_HERE.parent), str(_HERE)):
    if _path not in sys.path:
        sys.path.insert(0, _path)

from sweepbed.cli import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
