#!/usr/bin/env bash
# The zookeeper target runs Debian's ZooKeeper server (the `zookeeper`
# package's jars, on the machine's Java) as its own processes, one per node
# inside the run directory, with a zoo.cfg and myid the harness writes. No
# system service is used: zookeeperd is not installed, and a service the
# package may have started is stopped and disabled. Idempotent.
set -euo pipefail
SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO=sudo; fi
if [ ! -f /usr/share/java/zookeeper.jar ] || ! command -v java >/dev/null 2>&1; then
	export DEBIAN_FRONTEND=noninteractive
	$SUDO apt-get update -q
	# One retry: a concurrent apt run can make the first attempt fail.
	for attempt in 1 2; do
		if $SUDO apt-get install -y -q --no-install-recommends zookeeper default-jre-headless; then
			break
		fi
		sleep 5
	done
fi
test -f /usr/share/java/zookeeper.jar
command -v java >/dev/null
# The harness starts its own servers; a packaged service must not hold port
# 2181 or any resource of ours.
for svc in zookeeper zookeeperd; do
	if command -v systemctl >/dev/null && systemctl is-active --quiet "$svc" 2>/dev/null; then
		$SUDO systemctl stop "$svc" || true
		$SUDO systemctl disable "$svc" || true
	fi
	if [ -x "/etc/init.d/$svc" ]; then
		$SUDO "/etc/init.d/$svc" stop >/dev/null 2>&1 || true
	fi
done
echo "zookeeper.sh: $(dpkg-query -W -f '${Package} ${Version}' zookeeper) ready"
