#!/usr/bin/env bash
set -euxo pipefail
# --disable-multi-os-directory: lib/, not lib/../lib64.
./configure --prefix="$PREFIX" --disable-static --disable-docs --disable-multi-os-directory
make -j"${CPU_COUNT:-2}"
make install
