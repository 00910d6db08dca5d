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
# A python3 that imports xcb-proto's generator module, xcbgen (Debian: python3-xcbgen).
export PYTHONPATH="$(pkg-config --variable=pythondir xcb-proto)"
PYTHON=
for candidate in python3 /usr/bin/python3; do
  if "$candidate" -c "import xcbgen" 2>/dev/null; then PYTHON=$(command -v "$candidate"); break; fi
done
if [[ -z "$PYTHON" ]]; then
  echo "no python3 here imports xcbgen: install xcb-proto's generator (Debian: python3-xcbgen)" >&2
  exit 1
fi
export PYTHON
./configure --prefix="$PREFIX" --disable-static --disable-devel-docs --without-doxygen
make -j"${CPU_COUNT:-2}"
make install
rm -rf "$PREFIX/share/doc" "$PREFIX/share/man"
