#!/usr/bin/env bash
set -euxo pipefail
export LDFLAGS="-Wl,-rpath,$PREFIX/lib"
./configure --prefix="$PREFIX" --disable-cxx --disable-static
make -j"${CPU_COUNT:-2}"
make install
rm -f "$PREFIX"/lib/libmpdec.a
rm -rf "$PREFIX/share/doc"
