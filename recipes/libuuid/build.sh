#!/usr/bin/env bash
set -euxo pipefail
./configure --prefix="$PREFIX" --disable-all-programs --enable-libuuid --disable-static \
  --disable-nls --without-python --without-systemd --without-udev --without-tinfo \
  --without-ncurses --without-ncursesw --without-readline --without-libmagic \
  --disable-bash-completion --disable-asciidoc --disable-poman --disable-year2038
make -j"${CPU_COUNT:-2}"
make install
rm -rf "$PREFIX/share/doc" "$PREFIX/share/man"
