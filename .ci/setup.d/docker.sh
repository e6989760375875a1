#!/usr/bin/env bash
# The docker runtime's tests need a running Docker engine and root (they
# write nftables rules into the containers' network namespaces). Nothing is
# pulled: every image is built FROM scratch by the tests. Idempotent.
set -euo pipefail

if ! command -v docker >/dev/null 2>&1; then
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq && apt-get install -y -qq --no-install-recommends docker.io
fi
if ! docker info >/dev/null 2>&1; then
	# A machine where the engine is installed but stopped.
	(service docker start || systemctl start docker || (dockerd >/var/log/dockerd.log 2>&1 &)) >/dev/null 2>&1 || true
	for _ in $(seq 1 30); do
		docker info >/dev/null 2>&1 && break
		sleep 1
	done
fi
if ! docker info >/dev/null 2>&1; then
	echo "docker.sh: the Docker engine does not answer; the docker runtime tests will fail" >&2
	exit 1
fi
if [ "$(id -u)" != 0 ]; then
	echo "docker.sh: not root; the docker runtime tests need root for nftables in container namespaces" >&2
	exit 1
fi
echo "docker.sh: engine $(docker version --format '{{.Server.Version}}') ready"
