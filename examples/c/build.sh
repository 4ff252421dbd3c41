#!/bin/sh
# Builds greet.wasm from greet.c: clang targeting wasm32-wasi with wasi-libc.
# Debian: apt-get install -y clang lld wasi-libc libclang-rt-dev-wasm32
set -eu
cd "$(dirname "$0")"
CLANG="${CLANG:-clang}"
SYSROOT="${WASI_SYSROOT:-/usr}"
"$CLANG" --target=wasm32-wasi --sysroot="$SYSROOT" -O2 -s \
    -o "${1:-greet.wasm}" greet.c
