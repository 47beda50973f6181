#!/usr/bin/env bash
# The project's tests: formatting, vet, every test with the race detector
# against a real GlusterFS and a real dbus-daemon, then each fuzz target for a
# bounded time. Needs root (glusterd does); scripts/install-deps.sh first.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH=$PATH:/usr/local/go/bin
export GLUSTERBUS_REQUIRE_INTEGRATION=1 # integration tests fail, not skip, without gluster or dbus

unformatted=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))
if [ -n "$unformatted" ]; then
	echo "gofmt wants to change:" >&2
	echo "$unformatted" >&2
	exit 1
fi
go vet ./...
go test -race -count=1 -timeout 30m ./...

# Hostile input: every fuzz target for a bounded number of runs (a few
# seconds each). Not a duration: Go 1.26's fuzzing coordinator can fail a
# target with a bare "context deadline exceeded" when a duration ends while a
# worker is busy, as on a loaded machine (golang/go#75804, fixed in Go 1.27).
fuzztime=${GLUSTERBUS_FUZZTIME:-100000x}
for pkg in $(go list ./...); do
	dir=$(go list -f '{{.Dir}}' "$pkg")
	for target in $(grep -ho '^func Fuzz[A-Za-z0-9_]*' "$dir"/*_test.go 2>/dev/null | sed 's/^func //' | sort -u); do
		echo "fuzz $pkg $target ($fuzztime)"
		go test -run='^$' -fuzz="^${target}\$" -fuzztime="$fuzztime" "$pkg" >/tmp/glusterbus-fuzz.log 2>&1 ||
			{ cat /tmp/glusterbus-fuzz.log; exit 1; }
	done
done
echo "all tests passed"
