#!/usr/bin/env bash
set -euxo pipefail
export LDFLAGS="-Wl,-rpath,$PREFIX/lib"
./configure --prefix="$PREFIX" --with-shared --without-normal --without-debug \
  --without-ada --without-manpages --without-tests --without-cxx-binding \
  --enable-widec --enable-pc-files --with-pkg-config-libdir="$PREFIX/lib/pkgconfig" \
  --with-default-terminfo-dir="$PREFIX/share/terminfo" \
  --with-terminfo-dirs="$PREFIX/share/terminfo:/etc/terminfo:/lib/terminfo:/usr/share/terminfo" \
  --disable-stripping
make -j"${CPU_COUNT:-2}"
make install
