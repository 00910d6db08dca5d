#!/usr/bin/env bash
# bzip2's Makefile-libbz2_so builds the shared library; install it by hand (upstream's
# `make install` installs only the static one), with the pkg-config file distributions add.
set -euxo pipefail
make -f Makefile-libbz2_so -j"${CPU_COUNT:-2}" CFLAGS="-fPIC -O2 -g -D_FILE_OFFSET_BITS=64"
mkdir -p "$PREFIX/lib/pkgconfig" "$PREFIX/include"
cp -a "libbz2.so.$PKG_VERSION" "$PREFIX/lib/"
ln -sf "libbz2.so.$PKG_VERSION" "$PREFIX/lib/libbz2.so.1.0"
ln -sf "libbz2.so.1.0" "$PREFIX/lib/libbz2.so.1"
ln -sf "libbz2.so.1" "$PREFIX/lib/libbz2.so"
cp bzlib.h "$PREFIX/include/"
cat > "$PREFIX/lib/pkgconfig/bzip2.pc" <<PC
prefix=$PREFIX
libdir=\${prefix}/lib
includedir=\${prefix}/include

Name: bzip2
Description: Lossless, block-sorting data compression library
Version: $PKG_VERSION
Libs: -L\${libdir} -lbz2
Cflags: -I\${includedir}
PC
