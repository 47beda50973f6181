#!/usr/bin/env bash
# Runs .ci/run N times in a row, each on a fresh clone of this repository's
# HEAD, with a CPU-heavy job running beside it the whole time, and stops at the
# first failure. It shows the test suite holds on a loaded machine.
#
#   scripts/ci-soak.sh [runs (5)] [hog processes (1)]
#
# The hog is N processes that hash zeros forever (each keeps a core busy); logs
# go to /tmp/glusterbus-soak/run-K.log.
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-5}
hogs=${2:-1}
out=/tmp/glusterbus-soak
rm -rf "$out" && mkdir -p "$out"
rev=$(git rev-parse --short HEAD)

hog_pids=()
stop_hogs() { [ ${#hog_pids[@]} -eq 0 ] || kill "${hog_pids[@]}" 2>/dev/null || true; }
trap stop_hogs EXIT
for _ in $(seq "$hogs"); do
	sha256sum /dev/zero >/dev/null 2>&1 &
	hog_pids+=($!)
done

echo "soak: $runs runs of .ci/run at $rev beside $hogs CPU hogs; logs in $out"
for k in $(seq "$runs"); do
	clone=$out/clone-$k
	git clone -q "$PWD" "$clone"
	git -C "$clone" checkout -q "$rev"
	start=$(date +%s)
	load=$(cut -d' ' -f1-3 /proc/loadavg)
	if (cd "$clone" && CI=true bash .ci/run) >"$out/run-$k.log" 2>&1; then
		echo "run $k: passed in $(($(date +%s) - start)) s (load average at its start: $load)"
		rm -rf "$clone"
	else
		echo "run $k: FAILED after $(($(date +%s) - start)) s (load average at its start: $load); see $out/run-$k.log"
		exit 1
	fi
done
echo "soak: $runs of $runs passed at $rev"
