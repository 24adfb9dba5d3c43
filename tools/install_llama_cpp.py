"""Build (once) and install llama-cpp-python with instruction sets this machine really runs.

Usage: ``python tools/install_llama_cpp.py [--python PATH] [--model GGUF] [--print-flags]``.
The work is in ``tools/llama_install/`` (standard library only); see its docstring.
"""

from __future__ import annotations

import sys
from pathlib import Path

TOOLS = Path(__file__).resolve().parent
sys.path[:0] = [str(TOOLS), str(TOOLS.parent)]  # llama_install, and causerie.engine.smoke

from llama_install import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
