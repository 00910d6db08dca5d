#!/usr/bin/env bash
set -euxo pipefail
./configure --prefix="$PREFIX" --disable-static --disable-doc --disable-nls \
  --disable-xz --disable-xzdec --disable-lzmadec --disable-lzmainfo \
  --disable-scripts --disable-lzma-links
make -j"${CPU_COUNT:-2}"
make install
