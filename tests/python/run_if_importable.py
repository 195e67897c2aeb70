"""run_if_importable.py MODULE -- ARGS...: runs `python ARGS...` when MODULE
imports, else exits 77 (CTest's skip code) saying so."""

import importlib
import subprocess
import sys

module, separator, args = sys.argv[1], sys.argv[2], sys.argv[3:]
if separator != "--" or not args:
    sys.exit("usage: run_if_importable.py MODULE -- ARGS...")
try:
    importlib.import_module(module)
except ImportError as error:
    print(f"skipped: {module} does not import here ({error})")
    sys.exit(77)
sys.exit(subprocess.call([sys.executable] + args))
