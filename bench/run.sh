#!/usr/bin/env bash
# bench/run.sh: measure glusterbus and write the figures into
# docs/benchmarks.md (between its "bench/run.sh" markers; the rest of the
# file is kept). Needs root, GlusterFS (glusterd, gluster), dbus-daemon and
# Go. Takes about 12 minutes on 2 cores.
#
# What it runs (see bench/*_test.go):
#   1. go test -bench in internal/state, internal/gluster, internal/exporter
#   2. glusterbus serve against bench/fakegluster with 5 000 volumes
#   3. the daemon in-process against the same fake, with a CPU and a heap
#      profile of its full refreshes
#   4. a real 3-node loopback GlusterFS cluster: propagation latency, then
#      300 volumes (100 started, brick multiplexing), then latency again
#
# Sizes can be changed through the environment (the values used are
# recorded in the document): GLUSTERBUS_BENCH_VOLUMES (5000),
# GLUSTERBUS_BENCH_REAL_VOLUMES (300), GLUSTERBUS_BENCH_REAL_STARTED (100),
# GLUSTERBUS_BENCH_CYCLES (13 cycles of 8 operations),
# GLUSTERBUS_BENCH_CYCLES_AT_SCALE (13), GLUSTERBUS_BENCH_IDLE (60s),
# GLUSTERBUS_BENCH_RELOADS (5). BENCH_KEEP=1 keeps the work directory
# (profiles, logs).
#
# BENCH_ONLY=fakeglusterd runs only bench/fakeglusterd.sh (glusterd read over
# its socket at 5 000 volumes, about 3 minutes), which writes its own section
# and its rows of the Targets table.
set -euo pipefail

cd "$(dirname "$0")/.."
if [ "${BENCH_ONLY:-}" = fakeglusterd ]; then
	exec bench/fakeglusterd.sh
fi
ROOT=$PWD
DOC=$ROOT/docs/benchmarks.md
BEGIN_MARK='<!-- BEGIN bench/run.sh: generated, do not edit by hand -->'
END_MARK='<!-- END bench/run.sh -->'

if [ "$(id -u)" != 0 ]; then
	echo "bench/run.sh: needs root (glusterd)" >&2
	exit 1
fi
for bin in go gluster glusterd dbus-daemon; do
	command -v "$bin" >/dev/null || { echo "bench/run.sh: $bin not found" >&2; exit 1; }
done

WORK=$(mktemp -d /tmp/gbb.XXXXXX) # short: bus socket paths under it must fit in 107 bytes
OUT=$WORK/out
BIN=$WORK/bin
mkdir -p "$OUT" "$BIN" "$WORK/tmp"
export TMPDIR=$WORK/tmp # every temporary directory (buses, daemons' state) is under $WORK
export GLUSTERBUS_BENCH_BIN=$BIN GLUSTERBUS_BENCH_OUT=$OUT GLUSTERBUS_REQUIRE_INTEGRATION=1

# stop_ours stops every process whose command line names our work
# directory or our test cluster's directory, by pid.
stop_ours() {
	local pats=("$WORK/") pid cmd p sig
	if [ -s "$OUT/cluster-dir" ]; then
		pats+=("$(cat "$OUT/cluster-dir")/")
	fi
	for sig in TERM KILL; do
		for pid in $(ls /proc | grep -E '^[0-9]+$'); do
			[ "$pid" = $$ ] && continue
			cmd=$(tr '\0' ' ' 2>/dev/null <"/proc/$pid/cmdline") || continue
			for p in "${pats[@]}"; do
				case "$cmd" in
				*"$p"*)
					kill -"$sig" "$pid" 2>/dev/null || true
					;;
				esac
			done
		done
		if [ $sig = TERM ]; then sleep 2; fi
	done
}
leftovers() {
	local pats=("$WORK/") pid cmd p
	if [ -s "$OUT/cluster-dir" ]; then
		pats+=("$(cat "$OUT/cluster-dir")/")
	fi
	for pid in $(ls /proc | grep -E '^[0-9]+$'); do
		[ "$pid" = $$ ] && continue
		cmd=$(tr '\0' ' ' 2>/dev/null <"/proc/$pid/cmdline") || continue
		for p in "${pats[@]}"; do
			case "$cmd" in *"$p"*) echo "$pid $cmd" ;; esac
		done
	done
}
cleanup() {
	stop_ours
	if [ "${BENCH_KEEP:-0}" = 1 ]; then
		echo "work directory kept: $WORK"
	else
		rm -rf "$WORK"
	fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

started=$(date +%s)
step() { printf '\n=== %s (%ds)\n' "$*" $(($(date +%s) - started)); }

COMMAND="bench/run.sh"
for v in $(env | grep -oE '^GLUSTERBUS_BENCH_(VOLUMES|REAL_VOLUMES|REAL_STARTED|CYCLES|CYCLES_AT_SCALE|IDLE|RELOADS|PAUSE)=' | tr -d =); do
	COMMAND="$v=${!v} $COMMAND"
done
DATE=$(date -u '+%Y-%m-%d %H:%M UTC')
CPU=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')
MEM=$(awk '/MemTotal/ {printf "%.1f GiB", $2/1048576}' /proc/meminfo)
COMMIT=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
DIRTY=$(git status --porcelain --untracked-files=no 2>/dev/null | wc -l)
LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)

step "building"
go build -o "$BIN/glusterbus" ./cmd/glusterbus
go build -o "$BIN/fakegluster" ./bench/fakegluster
go build -o "$BIN/clitime" ./bench/clitime

step "micro-benchmarks (internal/state, internal/gluster, internal/exporter)"
go test -count=1 -run '^$' -bench . -benchtime 1s ./internal/state ./internal/gluster ./internal/exporter 2>&1 |
	grep -E '^(Benchmark|ok|FAIL|---|panic|pkg:)|_test.go:[0-9]+:' | tee "$OUT/micro.txt"
go test -count=1 -run '^$' -bench 'GetManagedObjects' -benchtime 3x -cpuprofile "$OUT/gmo.cpu" \
	-o "$OUT/exporter.test" ./internal/exporter >/dev/null

step "scale: glusterbus serve against bench/fakegluster"
go test -count=1 -v -timeout 15m -run '^TestFakeScale$' ./bench 2>&1 | tee "$OUT/fake.log" | grep -E '^(---|ok|FAIL|panic)' || true
[ -s "$OUT/fake.md" ] || { echo "the fake-gluster scale test failed:" >&2; tail -50 "$OUT/fake.log" >&2; exit 1; }

step "profile: the daemon in-process, full refreshes against bench/fakegluster"
GLUSTERBUS_BENCH_HEAPPROFILE=$OUT/heap.prof go test -count=1 -run '^$' -bench '^BenchmarkDaemonReload$' -benchtime 5x \
	-cpuprofile "$OUT/reload.cpu" -o "$OUT/bench.test" ./bench 2>&1 | grep -E '^(Benchmark|ok|FAIL|panic)' | tee "$OUT/reload.txt"

step "real cluster: propagation latency and scale"
go test -count=1 -v -timeout 20m -run '^TestRealCluster$' ./bench 2>&1 | tee "$OUT/real.log" | grep -E '^(---|ok|FAIL|panic)' || true
[ -s "$OUT/latency.md" ] || { echo "the real-cluster test failed:" >&2; tail -80 "$OUT/real.log" >&2; exit 1; }

step "writing docs/benchmarks.md"
# pprof ARGS: go tool pprof without its file, build id and time lines.
pprof() { go tool pprof "$@" 2>/dev/null | grep -vE '^(File|Build ID|Time):' || true; }
pprof -top -cum -nodecount=5000 -nodefraction=0 -edgefraction=0 "$OUT/bench.test" "$OUT/reload.cpu" >"$OUT/reload.cum"
pprof -top -cum -nodecount=5000 -nodefraction=0 -edgefraction=0 "$OUT/exporter.test" "$OUT/gmo.cpu" >"$OUT/gmo.cum"
pprof -sample_index=inuse_space -top -nodecount=5000 -nodefraction=0 "$OUT/bench.test" "$OUT/heap.prof" >"$OUT/heap.top"
# The live heap in all, and what exporter.(*Exporter).Apply holds of it.
HEAP_TOTAL=$(awk '/^Showing nodes accounting for/ { sub(/,$/, "", $(NF-1)); print $(NF-1); exit }' "$OUT/heap.top")
HEAP_APPLY=$(awk '$6 == "github.com/glusterbus/glusterbus/internal/exporter.(*Exporter).Apply" { print $4 " (" $5 ")"; exit }' "$OUT/heap.top")
FAKE_N=${GLUSTERBUS_BENCH_VOLUMES:-5000}
# cum FUNC FILE: the cumulative share of FUNC's samples in a -top -cum listing.
cum() { awk -v f="$1" '$6 == f { print $5; found = 1; exit } END { if (!found) print "n/a" }' "$2"; }
# ns NAME: the time per operation of benchmark NAME (without its -GOMAXPROCS
# suffix); per NAME UNIT: another of its figures, e.g. B/op.
per() {
	awk -v b="$1" -v u="$2" '{ n = $1; sub(/-[0-9]+$/, "", n) } n == b { for (i = 1; i < NF; i++) if ($(i+1) == u) { print $i; exit } }' "$OUT/micro.txt"
}
ns() {
	per "$1" ns/op | awk '{ if ($1 < 1e6) printf "%.3g µs", $1 / 1e3; else if ($1 < 1e8) printf "%.3g ms", $1 / 1e6; else printf "%.0f ms", $1 / 1e6 }'
}
LOAD_AFTER=$(cut -d' ' -f1-3 /proc/loadavg)
ELAPSED=$(($(date +%s) - started))

{
	echo "$BEGIN_MARK"
	echo
	echo "## How these figures were made"
	echo
	echo "- Command: \`$COMMAND\` (as root, from the repository's top directory)"
	echo "- Date: $DATE; the whole run took $((ELAPSED / 60)) min $((ELAPSED % 60)) s"
	echo "- Machine: $(nproc) cores ($CPU), $MEM of memory, Linux $(uname -r)"
	echo "- Software: $(go version | cut -d' ' -f3), $(gluster --version | head -1), $(dbus-daemon --version | head -1)"
	echo "- Code: commit $COMMIT; $DIRTY tracked files had uncommitted changes in the work tree when it was built"
	echo "- Load average before / after the run: $LOAD_BEFORE / $LOAD_AFTER. The machine was not reserved for this run: whatever else ran beside it shows in the load averages given with each part."
	echo "- Latency percentiles are nearest-rank. \"CLI time\" is the wall time of the gluster (or fakegluster) process as measured by \`bench/clitime\` around it; \"own\" time is the rest of the wall time of the call, as seen by a client on the bus."
	echo
	echo "## Targets"
	echo
	echo "| target | measured | limit | verdict |"
	echo "|---|---|---|---|"
	cat "$OUT/latency.targets" "$OUT/real.targets" "$OUT/fake.targets"
	# The rows bench/fakeglusterd.sh wrote stay until it runs again.
	grep -F '(fakeglusterd,' "$DOC" 2>/dev/null | grep '^|' || true
	echo
	echo "## Propagation latency on a real cluster"
	echo
	echo "Three glusterd nodes on loopback (\`internal/testbed\`), \`glusterbus serve\` (the built binary) on a private bus with its defaults"
	echo "(inotify on glusterd's directory, 10 s reconcile, 2 s quiet period; \`--no-events\`, no hook scripts installed), and a client on that bus."
	echo "Latency is from the moment the gluster command on node 1 returns to the moment the client receives the signal showing its result:"
	echo "InterfacesAdded (create), PropertiesChanged of Status (start, stop) or Options (set), InterfacesRemoved (delete)."
	echo "The floor is a bare \`gluster volume info VOL --xml\` on node 1, timed right after each operation but delete."
	cat "$OUT/latency.md"
	echo
	echo "## Scale"
	echo
	echo "Two runs of \`glusterbus serve\` per cluster: one with \`--interval 1h\` for the timed calls and memory, one with the default"
	echo "\`--interval 10s\` for idle CPU. The gluster command runs under \`bench/clitime\`."
	echo
	echo "### Real cluster"
	echo
	cat "$OUT/real.md"
	echo
	echo "### bench/fakegluster"
	echo
	echo "\`bench/fakegluster\` replays XML made from the real captures in \`internal/gluster/testdata\` (\`bench/xmlgen\`): every volume is"
	echo "the captured replica 3 volume \`rep3\` under a new name, id, brick paths, pids and ports; all of them started. Its CLI time is"
	echo "a file copy into a pipe, far below what a real glusterd with that many volumes takes, so the own ÷ CLI ratio here is a worst case."
	echo
	cat "$OUT/fake.md"
	echo
	echo "## Where the daemon's time and memory go at $FAKE_N volumes"
	echo
	echo "\`BenchmarkDaemonReload\` (bench/fake_test.go): \`daemon.Run\` in the test process against bench/fakegluster, start-up plus 5 \`Reload\` calls;"
	echo "\`go test -cpuprofile\`, then \`go tool pprof -top\`."
	echo
	echo '```'
	cat "$OUT/reload.txt"
	echo
	pprof -top -nodecount=20 "$OUT/bench.test" "$OUT/reload.cpu"
	echo
	grep -E 'flat%|refresh\.|gluster\.|state\.|exporter\.|encoding/xml\.Unmarshal$|\(\*Decoder\)\.(Skip|RawToken)$' "$OUT/reload.cum" | head -30 || true
	echo '```'
	echo
	echo "Live heap after those refreshes (\`-sample_index=inuse_space\`):"
	echo
	echo '```'
	pprof -sample_index=inuse_space -top -nodecount=10 "$OUT/bench.test" "$OUT/heap.prof"
	echo '```'
	echo
	echo "\`GetManagedObjects\` with 5 000 volumes x 3 bricks exported, client and exporter in one process (\`BenchmarkGetManagedObjects\`, -benchtime 3x -cpuprofile):"
	echo
	echo '```'
	grep -E 'flat%|exporter\.|bus\.\(\*Conn\)\.WriteMessage|CountFds|EncodeTo|SendMessage|\(\*Call\)\.Store|ReadMessage$|inWorker$' "$OUT/gmo.cum" | head -14 || true
	echo '```'
	echo
	echo "## Findings"
	echo
	echo "From the profiles and micro-benchmarks above (CPU shares are of all samples of that profile):"
	echo
	echo "- **Parsing is most of a full read through the CLI, and only a changed output is parsed.** In these refreshes decoding"
	echo "  \`volume info\` takes $(cum 'github.com/glusterbus/glusterbus/internal/gluster.walkVolumeInfo' "$OUT/reload.cum") of the samples (\`gluster.walkVolumeInfo\`) and its first half, decoded beside it,"
	echo "  $(cum 'github.com/glusterbus/glusterbus/internal/gluster.(*rawTokens).splitVolumes.func1' "$OUT/reload.cum") (\`gluster.(*rawTokens).splitVolumes.func1\`), nearly all of it the start-up read: the \`Reload\` calls get the same"
	echo "  output again, and \`gluster.(*CLI)\` returns the result it parsed from the same bytes (a digest of the output, \`internal/gluster/memo.go\`)."
	echo "  What is left of an unchanged full read is \`state.(*Model).SetAll\` ($(cum 'github.com/glusterbus/glusterbus/internal/state.(*Model).SetAll' "$OUT/reload.cum"): it lists the objects of both"
	echo "  snapshots and diffs them) and \`exporter.(*Exporter).Apply\` ($(cum 'github.com/glusterbus/glusterbus/internal/exporter.(*Exporter).Apply' "$OUT/reload.cum")). ParseVolumeInfo of 5 000 volumes"
	echo "  takes $(ns 'BenchmarkParseVolumeInfo/volumes=5000') in the micro-benchmarks, CheckOutput of the same document $(ns 'BenchmarkCheckOutput/volume-info/volumes=5000')."
	echo "- **Idle CPU is bounded by design.** A periodic reconcile waits at least 200 times its own CPU time after the previous one"
	echo "  (\`internal/refresh\`: half a percent of a core), up to six intervals, so at $FAKE_N volumes reconciles come less often than every 10 s;"
	echo "  targeted refreshes are never held back."
	echo "- **Memory.** The live heap after the refreshes is $HEAP_TOTAL, of which \`exporter.(*Exporter).Apply\` holds ${HEAP_APPLY:-n/a}"
	echo "  (each exported object's values). A full read or a \`GetManagedObjects\` reply allocates several times that for a moment (VmHWM);"
	echo "  \`internal/memtrim\` returns it to the system within seconds once the burst is over (the exporter announces each large"
	echo "  \`GetManagedObjects\` reply it has godbus encode), instead of the minutes Go's scavenger takes. The peak itself (VmHWM) is that burst."
	echo "  Once a client has called \`GetManagedObjects\`, the exporter also keeps each object's entry of the reply encoded (about the reply's size, 19 MB here)."
	echo "- **godbus encodes every message twice.** Its \`(*unixTransport).SendMessage\` calls \`(*Message).CountFds\`, which encodes the"
	echo "  whole body into a null writer only to count file descriptors. The \`GetManagedObjects\` reply no longer goes through it: the"
	echo "  exporter keeps each object's entry encoded and writes the reply as bytes (\`exporter.(*Exporter).managedBody\`: $(cum 'github.com/glusterbus/glusterbus/internal/exporter.(*Exporter).managedBody' "$OUT/gmo.cum") of the samples"
	echo "  above, against $(cum 'github.com/godbus/dbus/v5.(*Conn).inWorker' "$OUT/gmo.cum") for the client reading and decoding it). Signals still go through godbus."
	echo "- **The real cluster is read over glusterd's socket.** With the daemon's defaults no gluster process runs in a refresh"
	echo "  (\"The CLI calls of a full refresh\" in the real-cluster section). \`volume status\`, which holds the volumes' cluster-wide"
	echo "  locks while it runs, is run only with \`--remote-brick-status\` (README, \"Not breaking the cluster it watches\")."
	echo "- **Creating or deleting a volume costs O(log n), not a copy of the cluster.** The manager's list of volumes is an"
	echo "  ordered tree shared between snapshots (\`state.volumeIndex\`, \`github.com/google/btree\`): a volume created or deleted"
	echo "  copies the nodes on its way, not every name, and the exporter makes the list into object paths only when a client"
	echo "  reads it (\`Manager.Volumes\` goes out by name only, \`invalidates\`). \`state.(*Model).SetVolume\`, a create+delete pair:"
	echo "  $(per 'BenchmarkModelSetVolume/create+delete/volumes=50' B/op) B at 50 volumes, $(per 'BenchmarkModelSetVolume/create+delete/volumes=500' B/op) B at 500 and $(per 'BenchmarkModelSetVolume/create+delete/volumes=5000' B/op) B at 5 000"
	echo "  ($(ns 'BenchmarkModelSetVolume/create+delete/volumes=50') / $(ns 'BenchmarkModelSetVolume/create+delete/volumes=500') / $(ns 'BenchmarkModelSetVolume/create+delete/volumes=5000')); an option change"
	echo "  $(per 'BenchmarkModelSetVolume/option-set/volumes=50' B/op) / $(per 'BenchmarkModelSetVolume/option-set/volumes=500' B/op) / $(per 'BenchmarkModelSetVolume/option-set/volumes=5000' B/op) B"
	echo "  ($(ns 'BenchmarkModelSetVolume/option-set/volumes=50') / $(ns 'BenchmarkModelSetVolume/option-set/volumes=500') / $(ns 'BenchmarkModelSetVolume/option-set/volumes=5000'); the times move with the load of the machine, the bytes do not)."
	echo "  With the exporter, at 5 000 volumes (\`BenchmarkApply/create-delete/under-model-lock\`): $(per 'BenchmarkApply/create-delete/under-model-lock/5000-volumes' B/op) B, $(ns 'BenchmarkApply/create-delete/under-model-lock/5000-volumes')."
	echo
	echo "## Micro-benchmarks"
	echo
	echo "\`go test -bench . -benchtime 1s ./internal/state ./internal/gluster ./internal/exporter\`"
	echo
	echo '```'
	cat "$OUT/micro.txt"
	echo '```'
	echo
	echo "$END_MARK"
} >"$OUT/section.md"

if [ ! -f "$DOC" ] || ! grep -qF "$BEGIN_MARK" "$DOC"; then
	cat >"$DOC" <<EOF
# Benchmarks

What a change costs glusterbus should follow the size of the change, not the size of the cluster.
\`bench/run.sh\` measures that and rewrites the part of this file between its markers; the sections after
them are kept as they are.

$BEGIN_MARK
$END_MARK

## Native event ingest

<!-- Placeholder: figures for native GlusterFS event ingest go here. -->
_Not measured by bench/run.sh; to be filled in._

## Webhook delivery

<!-- Placeholder: figures for webhook delivery go here. -->
_Not measured by bench/run.sh; to be filled in._
EOF
fi
awk -v begin="$BEGIN_MARK" -v end="$END_MARK" -v section="$OUT/section.md" '
	$0 == begin { while ((getline line < section) > 0) print line; skip = 1; next }
	$0 == end { skip = 0; next }
	!skip { print }
' "$DOC" >"$OUT/benchmarks.md"
cp "$OUT/benchmarks.md" "$DOC"

step "done"
sed -e "/^$BEGIN_MARK\$/d" -e "/^$END_MARK\$/d" "$OUT/section.md"
stop_ours
left=$(leftovers)
if [ -n "$left" ]; then
	echo "processes of this run still running:" >&2
	echo "$left" >&2
	exit 1
fi
echo
echo "docs/benchmarks.md written in $(($(date +%s) - started)) s"
