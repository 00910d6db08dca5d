#!/usr/bin/env bash
set -euxo pipefail
./configure --prefix="$PREFIX" --shared
make -j"${CPU_COUNT:-2}"
make install
rm -f "$PREFIX/lib/libz.a"
