#!/usr/bin/env bash
# Build CPython into $PREFIX (the padded placeholder prefix ftforge relocates on install).
# FREETHREADING=1 selects the free-threaded (--disable-gil) build; OPTIMIZE=1 adds PGO+LTO;
# ENVSAFE=0 leaves out the getenv/setenv race mitigation of free-threaded builds.
set -euxo pipefail

# Every C library comes from the host environment ($PREFIX: this channel's packages),
# never from the machine: pkg-config sees only $PREFIX, and headers and libraries are
# looked up there first. The build fails if a module links anything else
# (dynamic_linking.overlinking_behavior: error in recipe.yaml).
export PKG_CONFIG_LIBDIR="$PREFIX/lib/pkgconfig:$PREFIX/share/pkgconfig"
export CPPFLAGS="-I$PREFIX/include -I$PREFIX/include/ncursesw ${CPPFLAGS:-}"
export LDFLAGS="-L$PREFIX/lib ${LDFLAGS:-}"
export TCLTK_CFLAGS="-I$PREFIX/include"
export TCLTK_LIBS="-L$PREFIX/lib -ltcl8.6 -ltk8.6"

config_args=(
  --prefix="$PREFIX"
  --enable-shared
  --enable-ipv6
  --enable-loadable-sqlite-extensions
  --with-ensurepip=install
  --with-computed-gotos
  --with-system-expat
  --with-system-libmpdec
  --with-openssl="$PREFIX"
  --with-openssl-rpath=no
  --with-readline=readline
  # No gdbm or Berkeley DB package: `dbm` uses dbm.sqlite3 (3.13+) or dbm.dumb.
  py_cv_module__gdbm=n/a
  py_cv_module__dbm=n/a
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

# The compilers by name, as sysconfig records them for extension builds on the user's
# machine (configure would record the absolute path it found CXX at, /usr/bin/g++, and
# a caller's CC may be a path or a wrapper): the user's PATH decides which gcc runs.
./configure "${config_args[@]}" CC=gcc CXX=g++

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
