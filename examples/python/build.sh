#!/bin/sh
# Build examples/python/app.py into a WebAssembly component, app.wasm (about 18 MB, so
# it is not committed): `wess deploy app.py --wit world.wit` builds the same way
# before it uploads. Needs componentize-py: pip install 'wess[python]'.
# PYTHON names the interpreter that has it (default: python3).
set -eu
cd "$(dirname "$0")"
PYTHON="${PYTHON:-python3}"
if ! "$PYTHON" -c "import componentize_py" 2>/dev/null; then
    echo "componentize-py is not installed for $PYTHON: pip install 'wess[python]'" >&2
    exit 1
fi
"$PYTHON" -c "import sys; from componentize_py import script; sys.argv[0] = 'componentize-py'; sys.exit(script())" \
    -q -d world.wit -w greeter componentize -p . app -o app.wasm
ls -l app.wasm
