"""pytest setup for the analysis tests: the repository root on sys.path (for `import analysis`)
and the fixture helpers beside this file."""
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
for p in (HERE.parent.parent, HERE):
    if str(p) not in sys.path:
        sys.path.insert(0, str(p))
