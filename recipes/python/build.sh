#!/usr/bin/env bash
# Build CPython into $PREFIX (the padded placeholder prefix ftforge relocates on install).
# FREETHREADING=1 selects the free-threaded (--disable-gil) build; OPTIMIZE=1 adds PGO+LTO;
# ENVSAFE=0 leaves out the getenv/setenv race mitigation of free-threaded builds.
set -euxo pipefail

config_args=(
  --prefix="$PREFIX"
  --enable-shared
  --enable-ipv6
  --enable-loadable-sqlite-extensions
  --with-ensurepip=install
  --with-computed-gotos
  --with-system-expat
  # The libmpdec CPython carries: 3.13 and 3.14 fall back to it when the machine has
  # none, 3.15 falls back to the slow pure-Python decimal instead (and Debian 12 has
  # no libmpdec-dev), so ask for it by name.
  --without-system-libmpdec
  --with-tzpath="$PREFIX/share/zoneinfo:/usr/share/zoneinfo:/usr/lib/zoneinfo:/usr/share/lib/zoneinfo:/etc/zoneinfo"
  --without-static-libpython
)
if [[ "${FREETHREADING:-0}" == 1 ]]; then
  config_args+=(--disable-gil)
fi
if [[ "${OPTIMIZE:-0}" == 1 ]]; then
  config_args+=(--enable-optimizations --with-lto)
fi

# Link the interpreter and every stdlib extension against the libpython of this prefix;
# the rpath holds the placeholder prefix and is rewritten on install like any other path.
export LDFLAGS="${LDFLAGS:-} -Wl,-rpath,$PREFIX/lib"

./configure "${config_args[@]}"

# The getenv/setenv race mitigation (docs/envsafe.md): free-threaded builds link
# envsafe/ftforge_envsafe.c into libpython unless ENVSAFE=0.
if [[ "${FREETHREADING:-0}" == 1 && "${ENVSAFE:-1}" == 1 ]]; then
  cp "$RECIPE_DIR/envsafe/ftforge_envsafe.c" Python/ftforge_envsafe.c
  sed -i 's|^MODOBJS=\(.*\)$|MODOBJS=\1 Python/ftforge_envsafe.o|' Makefile
  grep -q 'Python/ftforge_envsafe.o' Makefile
fi

make -j"${CPU_COUNT:-2}"
make install

# The unversioned names conda users expect.
ln -sf "python${PY_VER}${ABIFLAGS}" "$PREFIX/bin/python"
ln -sf "python${PY_VER}${ABIFLAGS}" "$PREFIX/bin/python3" || true
ln -sf pip3 "$PREFIX/bin/pip" || true

# pip writes a /bin/sh trampoline instead of a shebang longer than 127 bytes (our
# 255-character placeholder prefix is). Conda clients rewrite shebangs on install and
# shorten over-long ones themselves, so give pip's scripts the plain shebang.
for script in "$PREFIX"/bin/pip*; do
  if [[ -f "$script" && ! -L "$script" ]] && [[ "$(head -c 9 "$script")" == "#!/bin/sh" ]]; then
    sed -i "1,3c #!$PREFIX/bin/python${PY_VER}${ABIFLAGS}" "$script"
  fi
done

# Tests of the stdlib are not shipped (conda-forge splits them off as well).
rm -rf "$PREFIX/lib/python${PY_VER}${ABIFLAGS}/test" \
       "$PREFIX/lib/python${PY_VER}${ABIFLAGS}/idlelib/idle_test"
