#!/usr/bin/env bash
set -euxo pipefail
export PKG_CONFIG_LIBDIR="$PREFIX/lib/pkgconfig:$PREFIX/share/pkgconfig"
export CPPFLAGS="-I$PREFIX/include -I$PREFIX/include/ncursesw"
export LDFLAGS="-L$PREFIX/lib -Wl,-rpath,$PREFIX/lib"
./configure --prefix="$PREFIX" --disable-static --with-curses --disable-install-examples
# libreadline records its terminal library (ncursesw) as DT_NEEDED, as distributions do.
make -j"${CPU_COUNT:-2}" SHLIB_LIBS="-lncursesw"
make install
