#!/usr/bin/env bash
set -euxo pipefail
export PKG_CONFIG_LIBDIR="$PREFIX/lib/pkgconfig:$PREFIX/share/pkgconfig"
export CPPFLAGS="-I$PREFIX/include"
export LDFLAGS="-L$PREFIX/lib -Wl,-rpath,$PREFIX/lib"
# The compile-time options CPython's own builds (and conda-forge's) enable.
export CFLAGS="-O2 -g -DSQLITE_ENABLE_COLUMN_METADATA=1 -DSQLITE_ENABLE_DBSTAT_VTAB=1 \
  -DSQLITE_ENABLE_FTS3=1 -DSQLITE_ENABLE_FTS3_PARENTHESIS=1 -DSQLITE_ENABLE_FTS4=1 \
  -DSQLITE_ENABLE_FTS5=1 -DSQLITE_ENABLE_RTREE=1 -DSQLITE_ENABLE_GEOPOLY=1 \
  -DSQLITE_ENABLE_MATH_FUNCTIONS=1 -DSQLITE_ENABLE_UNLOCK_NOTIFY=1 \
  -DSQLITE_ENABLE_DESERIALIZE=1 -DSQLITE_MAX_VARIABLE_NUMBER=250000"
./configure --prefix="$PREFIX" --disable-static --disable-tcl --disable-readline \
  --disable-editline --enable-threadsafe --enable-load-extension \
  TCLSH_CMD="$(command -v tclsh8.6)"
make -j"${CPU_COUNT:-2}"
make install
