#!/usr/bin/env bash
set -euxo pipefail
# pthread-stubs is an empty pkg-config module on Linux (its functions are in libc).
mkdir -p "$SRC_DIR/_pc"
cat > "$SRC_DIR/_pc/pthread-stubs.pc" <<PC
Name: pthread stubs
Description: Stubs missing from libc for standard pthread functions
Version: 0.4
Libs:
PC
export PKG_CONFIG_LIBDIR="$PREFIX/lib/pkgconfig:$PREFIX/share/pkgconfig:$SRC_DIR/_pc:/usr/share/pkgconfig"
export PYTHON="$(command -v python3)"
# xcb-proto's generator module (xcbgen), where the machine's xcb-proto put it.
export PYTHONPATH="$(pkg-config --variable=pythondir xcb-proto)"
./configure --prefix="$PREFIX" --disable-static --disable-devel-docs --without-doxygen
make -j"${CPU_COUNT:-2}"
make install
rm -rf "$PREFIX/share/doc" "$PREFIX/share/man"
