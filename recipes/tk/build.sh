#!/usr/bin/env bash
set -euxo pipefail
export PKG_CONFIG_LIBDIR="$PREFIX/lib/pkgconfig:$PREFIX/share/pkgconfig"
export CPPFLAGS="-I$PREFIX/include"
export LDFLAGS="-L$PREFIX/lib -Wl,-rpath,$PREFIX/lib"
cd "$SRC_DIR/tcl/unix"
./configure --prefix="$PREFIX" --enable-shared --enable-threads --enable-64bit
make -j"${CPU_COUNT:-2}"
make install
cd "$SRC_DIR/tk/unix"
./configure --prefix="$PREFIX" --with-tcl="$PREFIX/lib" --enable-shared --enable-threads \
  --enable-64bit --disable-xft --disable-xss \
  --x-includes="$PREFIX/include" --x-libraries="$PREFIX/lib"
make -j"${CPU_COUNT:-2}"
make install
ln -sf tclsh8.6 "$PREFIX/bin/tclsh"
ln -sf wish8.6 "$PREFIX/bin/wish"
rm -rf "$PREFIX/share/man" "$PREFIX"/lib/*.a
