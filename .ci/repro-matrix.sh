#!/usr/bin/env bash
# Plays every named reproduction and its control K times (default 10) from
# seed S (default 1) and prints one table row per scenario: seeds, how many
# runs matched the expectation, and the median and worst time from the first
# operation to the first anomaly. Each `chaos repro` line goes to the log.
#
#   .ci/repro-matrix.sh [-s SEED] [-k RUNS] [-o LOG] [scenario...]
#
# Run it beside load to see it hold on a busy machine, for example with two
# CPU hogs: `sh -c 'while :; do :; done' &` twice, killed afterwards.
set -euo pipefail
cd "$(dirname "$0")/.."
seed=1 runs=10 log=repro-matrix.log
while getopts s:k:o: f; do
	case $f in
	s) seed=$OPTARG ;;
	k) runs=$OPTARG ;;
	o) log=$OPTARG ;;
	*) exit 2 ;;
	esac
done
shift $((OPTIND - 1))
bin=$(mktemp -d)/chaos
store=$(mktemp -d)
trap 'rm -rf "$store" "$(dirname "$bin")"' EXIT
go build -o "$bin" ./cmd/chaos
scenarios=("$@")
if [ ${#scenarios[@]} -eq 0 ]; then
	mapfile -t scenarios < <("$bin" list | awk '/^SCENARIOS/ {on=1; next} on && /^  [a-z]/ {print $1}')
fi
: >"$log"
printf '| scenario | seeds | expected | matched | median first anomaly | worst first anomaly |\n|---|---|---|---|---|---|\n'
status=0
for s in "${scenarios[@]}"; do
	for mode in repro control; do
		args=("$s" --runs "$runs" --seed "$seed" --store "$store" --quiet)
		name=$s
		expect=invalid
		if [ $mode = control ]; then
			args+=(--control)
			name="$s --control"
			expect=valid
		fi
		set +e
		out=$("$bin" repro "${args[@]}" 2>&1)
		code=$?
		set -e
		printf '== %s (exit %d)\n%s\n' "$name" "$code" "$out" >>"$log"
		last=$(printf '%s\n' "$out" | grep -E "^(reproduced|control held) " | tail -1 || true)
		matched=$(printf '%s\n' "$last" | sed -nE 's/^(reproduced|control held) ([0-9]+\/[0-9]+).*/\2/p' || true)
		med=$(printf '%s\n' "$last" | sed -nE 's/.*\(median ([0-9.]+) s\).*/\1 s/p' || true)
		worst=$(printf '%s\n' "$last" | sed -nE 's/.*first anomaly after [0-9.]+-([0-9.]+) s.*/\1 s/p' || true)
		printf '| %s | %d-%d | %s | %s | %s | %s |\n' "$name" "$seed" $((seed + runs - 1)) "$expect" "${matched:-none}" "${med:--}" "${worst:--}"
		if [ "$code" -eq 2 ]; then status=1; fi
		rm -rf "${store:?}"/*
	done
done
exit $status
