#!/usr/bin/env bash
# Installs what the Redis target needs: Debian's redis-server and redis-cli,
# libfaketime, and a second redis-server built from Debian's Redis source
# with MALLOC=libc. Debian's own binary links the system jemalloc, which
# deadlocks at start-up under libfaketime ("Unexpected recursive calls to
# clock_gettime", libfaketime #130, #327, #478); the libc build does not.
# Idempotent: every step is skipped when its result is already there.
set -euo pipefail

LIBC_BIN=/usr/local/bin/redis-server-libc
SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO=sudo; fi

need=()
command -v redis-server >/dev/null || need+=(redis-server)
command -v redis-cli >/dev/null || need+=(redis-tools)
[ -e /usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1 ] || ls /usr/lib/*/faketime/libfaketime.so.1 >/dev/null 2>&1 || need+=(libfaketime)
if [ ! -x "$LIBC_BIN" ]; then
  command -v gcc >/dev/null || need+=(gcc)
  command -v make >/dev/null || need+=(make)
  command -v dpkg-source >/dev/null || need+=(dpkg-dev)
  command -v xz >/dev/null || need+=(xz-utils)
  command -v pkg-config >/dev/null || need+=(pkg-config)
fi
if [ ${#need[@]} -gt 0 ]; then
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get update -q
  $SUDO apt-get install -y -q --no-install-recommends "${need[@]}"
fi
# The packaged server must not run as a service: the harness starts its own.
if command -v systemctl >/dev/null && systemctl is-active --quiet redis-server 2>/dev/null; then
  $SUDO systemctl stop redis-server || true
  $SUDO systemctl disable redis-server || true
fi
if pgrep -x redis-server >/dev/null 2>&1 && [ -x /etc/init.d/redis-server ]; then
  $SUDO /etc/init.d/redis-server stop || true
fi

if [ -x "$LIBC_BIN" ]; then
  exit 0
fi
src_list=/etc/apt/sources.list.d/chaos-deb-src.sources
if ! grep -rqs '^Types:.*deb-src' /etc/apt/sources.list.d/ && ! grep -qs '^deb-src' /etc/apt/sources.list; then
  $SUDO tee "$src_list" >/dev/null <<'SRC'
Types: deb-src
URIs: http://deb.debian.org/debian
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb-src
URIs: http://deb.debian.org/debian-security
Suites: bookworm-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
  $SUDO apt-get update -q
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"
apt-get source -q redis >/dev/null
dir=$(find . -maxdepth 1 -type d -name 'redis-*' | head -n1)
# Bundled deps (hiredis, lua, hdr_histogram, fpconv) build from the tarball;
# jemalloc is left out by MALLOC=libc.
make -C "$dir" -j"$(nproc)" MALLOC=libc BUILD_TLS=no USE_SYSTEMD=no redis-server >build.log 2>&1 || { tail -n 40 build.log; exit 1; }
$SUDO install -m 0755 "$dir/src/redis-server" "$LIBC_BIN"
echo "installed $LIBC_BIN"
