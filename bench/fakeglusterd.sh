#!/usr/bin/env bash
# bench/fakeglusterd.sh (or BENCH_ONLY=fakeglusterd bench/run.sh): measure
# glusterbus at GLUSTERBUS_BENCH_VOLUMES (5 000) volumes against
# bench/fakeglusterd, glusterd read over its socket as by default, and write
# the figures into docs/benchmarks.md: its own section (between its
# "bench/fakeglusterd.sh" markers) and its rows of the Targets table (those
# naming fakeglusterd). Needs root for nothing; dbus-daemon and Go. Takes
# about 3 minutes on 2 cores.
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT=$PWD
DOC=$ROOT/docs/benchmarks.md
BEGIN_MARK='<!-- BEGIN bench/fakeglusterd.sh: generated, do not edit by hand -->'
END_MARK='<!-- END bench/fakeglusterd.sh -->'

WORK=$(mktemp -d /tmp/gbf.XXXXXX) # short: socket paths under it must fit in 107 bytes
OUT=$WORK/out
BIN=$WORK/bin
mkdir -p "$OUT" "$BIN" "$WORK/tmp"
trap 'rm -rf "$WORK"' EXIT
export TMPDIR=$WORK/tmp GLUSTERBUS_BENCH_BIN=$BIN GLUSTERBUS_BENCH_OUT=$OUT

COMMAND="bench/fakeglusterd.sh"
for v in $(env | grep -oE '^GLUSTERBUS_BENCH_(VOLUMES|IDLE|RELOADS)=' | tr -d =); do
	COMMAND="$v=${!v} $COMMAND"
done
started=$(date +%s)
DATE=$(date -u '+%Y-%m-%d %H:%M UTC')
CPU=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')
MEM=$(awk '/MemTotal/ {printf "%.1f GiB", $2/1048576}' /proc/meminfo)
COMMIT=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
DIRTY=$(git status --porcelain --untracked-files=no 2>/dev/null | wc -l)
LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
N=${GLUSTERBUS_BENCH_VOLUMES:-5000}

for cmd in glusterbus:cmd/glusterbus fakegluster:bench/fakegluster fakeglusterd:bench/fakeglusterd clitime:bench/clitime; do
	go build -o "$BIN/${cmd%%:*}" "./${cmd#*:}"
done

go test -count=1 -run '^TestFakeGlusterdScale$' ./bench | tee "$OUT/check.txt"
go test -count=1 -v -timeout 15m -run '^TestFakeGlusterdServe$' ./bench >"$OUT/serve.log" 2>&1 ||
	{ tail -50 "$OUT/serve.log" >&2; exit 1; }
GLUSTERBUS_BENCH_HEAPPROFILE=$OUT/heap.prof go test -count=1 -run '^$' -bench '^BenchmarkDaemonReloadSocket$' -benchtime 5x \
	-cpuprofile "$OUT/reload.cpu" -o "$OUT/bench.test" ./bench 2>&1 | grep -E '^(Benchmark|ok|FAIL|panic)' | tee "$OUT/reload.txt"
go test -count=1 -run '^$' -bench 'BenchmarkModelSetAll|BenchmarkVolumesFromSocket' -benchtime 20x ./internal/state ./internal/glusterd 2>&1 |
	grep -E '^(Benchmark|ok|FAIL|panic)' | tee "$OUT/micro.txt"
pprof() { go tool pprof "$@" 2>/dev/null | grep -vE '^(File|Build ID|Time):' || true; }
LOAD_AFTER=$(cut -d' ' -f1-3 /proc/loadavg)
ELAPSED=$(($(date +%s) - started))

{
	echo "$BEGIN_MARK"
	echo
	echo "## glusterd read over its socket at $N volumes (bench/fakeglusterd)"
	echo
	echo "\`bench/fakeglusterd\` answers glusterd's CLI RPC for the volumes \`bench/fakegluster gen\` makes (the captured replica 3"
	echo "volume under new names, all started); \`TestFakeGlusterdScale\` checks that the real client reads from it exactly what the CLI"
	echo "parser reads from fakegluster's XML. \`glusterbus serve\` reads it over the socket as by default; fakegluster answers"
	echo "\`gluster --version\`. Its answers come from memory, far faster than a real glusterd with that many volumes, so the own"
	echo "time below includes the fake's time to answer and is a worst case for the daemon's share."
	echo
	echo "- Command: \`$COMMAND\` (from the repository's top directory); \`BENCH_ONLY=fakeglusterd bench/run.sh\` runs the same"
	echo "- Date: $DATE; the run took $((ELAPSED / 60)) min $((ELAPSED % 60)) s"
	echo "- Machine: $(nproc) cores ($CPU), $MEM of memory, Linux $(uname -r); $(go version | cut -d' ' -f3)"
	echo "- Code: commit $COMMIT; $DIRTY tracked files had uncommitted changes in the work tree when it was built"
	echo "- Load average before / after: $LOAD_BEFORE / $LOAD_AFTER (the machine is shared; the load shows in the wall times)"
	sed -n '/^####/,$p' "$OUT/fakeglusterd.md"
	echo
	echo "\`BenchmarkDaemonReloadSocket\` (the daemon in the test process, start-up then 5 \`Reload\` calls; -cpuprofile):"
	echo
	echo '```'
	cat "$OUT/reload.txt"
	echo
	pprof -top -cum -nodecount=400 "$OUT/bench.test" "$OUT/reload.cpu" |
		grep -E 'flat%|refresh\.\(\*Refresher\)\.(readAll|buildVolume|readLocalRuntime)$|state\.\(\*Model\)\.SetAll$|exporter\.\(\*Exporter\)\.Apply$|glusterd\.\(\*Client\)\.(Volumes|LocalState)$|gluster\.ParseGetState$|glusterd\.volumesFromDict$' | head -14 || true
	echo '```'
	echo
	echo "Micro-benchmarks of the paths changed for this (\`go test -bench 'BenchmarkModelSetAll|BenchmarkVolumesFromSocket' -benchtime 20x ./internal/state ./internal/glusterd\`):"
	echo
	echo '```'
	cat "$OUT/micro.txt"
	echo '```'
	echo
	echo "$END_MARK"
} >"$OUT/section.md"

if ! grep -qF "$BEGIN_MARK" "$DOC"; then
	printf '\n%s\n%s\n' "$BEGIN_MARK" "$END_MARK" >>"$DOC"
fi
# The section between its markers; in the Targets table, the rows naming
# fakeglusterd replaced by this run's, after the table's last row.
awk -v begin="$BEGIN_MARK" -v end="$END_MARK" -v section="$OUT/section.md" -v rows="$OUT/fakeglusterd.targets" '
	$0 == begin { while ((getline line < section) > 0) print line; skip = 1; next }
	$0 == end { skip = 0; next }
	skip { next }
	/^## Targets$/ { targets = 1 }
	targets && /^\|/ && /\(fakeglusterd,/ { next }
	targets && intable && !/^\|/ { while ((getline line < rows) > 0) print line; targets = 0; intable = 0 }
	targets && /^\|/ { intable = 1 }
	{ print }
' "$DOC" >"$OUT/benchmarks.md"
cp "$OUT/benchmarks.md" "$DOC"
grep -vxF -e "$BEGIN_MARK" -e "$END_MARK" "$OUT/section.md"
cat "$OUT/fakeglusterd.targets"
echo "docs/benchmarks.md written in $(($(date +%s) - started)) s"
