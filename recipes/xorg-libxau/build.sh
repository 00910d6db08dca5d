#!/usr/bin/env bash
set -euxo pipefail
# Our prefix, then the machine's architecture-independent .pc files (protocol headers);
# never the machine's libraries.
export PKG_CONFIG_LIBDIR="$PREFIX/lib/pkgconfig:$PREFIX/share/pkgconfig:/usr/share/pkgconfig"
./configure --prefix="$PREFIX" --disable-static
make -j"${CPU_COUNT:-2}"
make install
