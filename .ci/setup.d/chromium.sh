#!/usr/bin/env bash
# Headless Chromium for the report tests in reports/browser (driven with
# chromedp). Idempotent: does nothing when a chromium binary is present.
set -euo pipefail
if command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1; then
	exit 0
fi
SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
# One retry: a concurrent apt run can make the first attempt fail.
for attempt in 1 2; do
	if $SUDO apt-get install -y -q --no-install-recommends chromium fonts-dejavu-core; then
		exit 0
	fi
	sleep 5
done
exit 1
