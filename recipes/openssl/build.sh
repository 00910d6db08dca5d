#!/usr/bin/env bash
set -euxo pipefail
./Configure linux-x86_64 --prefix="$PREFIX" --libdir=lib --openssldir="$PREFIX/ssl" \
  shared no-tests no-docs no-static-engine -Wl,-rpath,"$PREFIX/lib"
make -j"${CPU_COUNT:-2}" build_libs
make install_dev
rm -f "$PREFIX"/lib/libcrypto.a "$PREFIX"/lib/libssl.a
