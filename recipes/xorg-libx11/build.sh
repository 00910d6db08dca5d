#!/usr/bin/env bash
set -euxo pipefail
# xtrans: headers and a .pc file, needed only while building libX11.
cd "$SRC_DIR/xtrans"
./configure --prefix="$SRC_DIR/_xtrans" --disable-docs
make install
export PKG_CONFIG_LIBDIR="$PREFIX/lib/pkgconfig:$PREFIX/share/pkgconfig:$SRC_DIR/_xtrans/share/pkgconfig:/usr/share/pkgconfig"
cd "$SRC_DIR/libx11"
./configure --prefix="$PREFIX" --disable-static --disable-specs --without-xmlto \
  --without-fop --without-xsltproc --disable-xf86bigfont
make -j"${CPU_COUNT:-2}"
make install
rm -rf "$PREFIX/share/doc" "$PREFIX/share/man"
