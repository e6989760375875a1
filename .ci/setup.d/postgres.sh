#!/usr/bin/env bash
# The postgres target runs Debian's PostgreSQL server programs (initdb,
# postgres, pg_basebackup) as its own processes, one cluster per node inside
# the run directory. The package's own cluster service is not used: it is
# stopped if the package started it. Idempotent.
set -euo pipefail
SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO=sudo; fi
if ! ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1; then
	export DEBIAN_FRONTEND=noninteractive
	$SUDO apt-get update -q
	for attempt in 1 2; do
		if $SUDO apt-get install -y -q --no-install-recommends postgresql; then
			break
		fi
		sleep 5
	done
fi
ls /usr/lib/postgresql/*/bin/postgres >/dev/null
# The harness starts its own servers; the packaged service must not hold
# port 5432 or any resource of ours.
if command -v systemctl >/dev/null && systemctl is-active --quiet postgresql 2>/dev/null; then
	$SUDO systemctl stop postgresql || true
	$SUDO systemctl disable postgresql || true
fi
if [ -x /etc/init.d/postgresql ] && pgrep -f "postgresql/.*/bin/postgres -D /var/lib" >/dev/null 2>&1; then
	$SUDO /etc/init.d/postgresql stop || true
fi
command -v unshare >/dev/null
echo "postgres.sh: $(ls -d /usr/lib/postgresql/*/bin | tail -n1) ready"
