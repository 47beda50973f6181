#!/bin/bash
# Native event ingest: glusterbus against the installed glustereventsd.
#
#   bench/ingest/run.sh
#
# In one run, on loopback only:
#   (a) 10 000 events/s for 60 s to `glusterbus serve` (private dbus-daemon,
#       no cluster): every datagram must come back once from GetEvents and
#       once as an Event signal; the daemon's CPU and RSS;
#   (b) a ramp of rising rates to the same daemon, up to the first step
#       that loses, lags or that the sender cannot keep up with;
#   (c) the same load to the installed glustereventsd, with a local webhook
#       receiver counting its POSTs; its CPU and RSS;
#   (d) the same load to another `glusterbus serve` with the same kind of
#       receiver as its one webhook (one POST per event, as glustereventsd):
#       the like-for-like row of webhook delivery;
# then prints the side-by-side table and writes it, with the machine, the
# date and the command, into the "Native event ingest" section of
# docs/benchmarks.md (DOC= to write elsewhere, DOC= empty to skip).
#
# RATE, DURATION (Go duration), RAMP_STEP and RAMP_BUDGET override the
# defaults. Everything it starts runs in its own process group and is
# stopped on exit; its files live in a temporary directory, removed on exit
# (KEEP=1 keeps it). glustereventsd runs with a private glusterd directory
# (webhooks.json, config.json with the port, glusterd.info), events log and
# pid file: nothing under /etc, /var/lib/glusterd or /var/log is touched.
set -euo pipefail

cd "$(dirname "$0")/../.."
RATE=${RATE:-10000}
DURATION=${DURATION:-60s}
RAMP_STEP=${RAMP_STEP:-10s}
RAMP_BUDGET=${RAMP_BUDGET:-140s}
DOC=${DOC-docs/benchmarks.md}
GFEVENTS=${GFEVENTS:-/usr/lib/x86_64-linux-gnu/glusterfs}
EVENTSD=${EVENTSD:-/usr/sbin/glustereventsd}

env_args=""
[[ $RATE != 10000 ]] && env_args+="RATE=$RATE "
[[ $DURATION != 60s ]] && env_args+="DURATION=$DURATION "
[[ $RAMP_STEP != 10s ]] && env_args+="RAMP_STEP=$RAMP_STEP "
[[ $RAMP_BUDGET != 140s ]] && env_args+="RAMP_BUDGET=$RAMP_BUDGET "
command="${env_args}bench/ingest/run.sh"
started=$(date -u +"%Y-%m-%d %H:%M UTC")
load_before=$(cat /proc/loadavg)
t0=$SECONDS

tmp=$(mktemp -d /tmp/ingest-bench.XXXXXX)
groups=()

# stop ends the process groups given (each started with setsid, so its
# leader's pid is the group id): TERM, then KILL what is left.
stop() {
	local g
	for g in "$@"; do kill -TERM -- "-$g" 2>/dev/null || true; done
	for _ in $(seq 50); do
		local alive=0
		for g in "$@"; do kill -0 -- "-$g" 2>/dev/null && alive=1; done
		((alive)) || break
		sleep 0.1
	done
	for g in "$@"; do kill -KILL -- "-$g" 2>/dev/null || true; done
	for g in "$@"; do wait "$g" 2>/dev/null || true; done
}

cleanup() {
	local rc=$?
	trap - EXIT INT TERM
	((${#groups[@]})) && stop "${groups[@]}"
	if [[ ${KEEP:-} == 1 ]]; then
		echo "kept $tmp" >&2
	else
		rm -rf "$tmp"
	fi
	exit $rc
}
trap cleanup EXIT INT TERM

# start runs a command in the background in its own process group and
# records it; the pid is in $started_pid.
start() {
	setsid "$@" &
	started_pid=$!
	groups+=("$started_pid")
}

wait_file() {
	for _ in $(seq 300); do
		[[ -e $1 ]] && return 0
		sleep 0.1
	done
	echo "timed out waiting for $1" >&2
	return 1
}

echo "building" >&2
go build -o "$tmp/glusterbus" ./cmd/glusterbus
go build -o "$tmp/ingestbench" ./bench/ingest
bench=$tmp/ingestbench

# (a) and (b): glusterbus on a private bus.
mkdir -p "$tmp/gb/gd" "$tmp/gb/state"
start dbus-daemon --session --nofork --nopidfile --address="unix:path=$tmp/gb/bus.sock"
bus_pid=$started_pid
wait_file "$tmp/gb/bus.sock"
gb_port=$("$bench" freeport)
start "$tmp/glusterbus" serve --bus "unix:path=$tmp/gb/bus.sock" --gluster false --glusterd-socket "" \
	--glusterd-workdir "$tmp/gb/gd" --state-dir "$tmp/gb/state" --config "$tmp/gb/none.conf" \
	--events-port "$gb_port" --events-rate -1 --journal-max-events 50000000 \
	2>"$tmp/gb/glusterbus.log"
gb_pid=$started_pid
timeout 420 "$bench" glusterbus -bus "unix:path=$tmp/gb/bus.sock" -port "$gb_port" \
	-pid "$gb_pid" -bus-pid "$bus_pid" -rate "$RATE" -duration "$DURATION" \
	-ramp-step "$RAMP_STEP" -ramp-budget "$RAMP_BUDGET" -out "$tmp/glusterbus.json"
stop "$gb_pid"
stop "$bus_pid"
groups=()
# Each gluster command glusterbus ran failed (it is `false`) and was logged.
gluster_calls=$(grep -c 'msg="reading gluster state failed"' "$tmp/gb/glusterbus.log" || true)
echo "glusterbus ran the gluster command $gluster_calls times" >&2
grep -E 'level=(WARN|ERROR)' "$tmp/gb/glusterbus.log" | grep -v 'msg="reading gluster state failed"' |
	grep -v 'msg="initial read of the cluster failed' | head -5 >&2 || true

# (c): the installed glustereventsd with one webhook.
ev=$tmp/ev
mkdir -p "$ev/gd/events" "$ev/bin"
start "$bench" receiver -addr-file "$ev/receiver.url"
recv_pid=$started_pid
wait_file "$ev/receiver.url"
url=$(cat "$ev/receiver.url")
ev_port=$("$bench" freeport)
echo "UUID=$(cat /proc/sys/kernel/random/uuid)" >"$ev/gd/glusterd.info"
printf '{"port": %d}\n' "$ev_port" >"$ev/gd/events/config.json"
printf '{"%s": {"token": "", "secret": ""}}\n' "$url" >"$ev/gd/events/webhooks.json"
# eventsapiconf.py asks `gluster system:: getwd` for the glusterd directory
# that holds webhooks.json, config.json and glusterd.info.
cat >"$ev/bin/gluster" <<EOF
#!/bin/sh
[ "\$1 \$2" = "system:: getwd" ] && echo "$ev/gd" && exit 0
exit 1
EOF
chmod +x "$ev/bin/gluster"
# The events log path is a constant of eventsapiconf.py: set it before
# glustereventsd's utils module imports it.
start env PATH="$ev/bin:$PATH" python3 -c '
import runpy, sys
gfevents, eventsd, log, pid = sys.argv[1:5]
sys.path[:0] = [gfevents + "/gfevents", gfevents]
import gfevents.eventsapiconf as conf
conf.LOG_FILE = log
sys.argv = [eventsd, "-p", pid]
runpy.run_path(eventsd, run_name="__main__")
' "$GFEVENTS" "$EVENTSD" "$ev/events.log" "$ev/glustereventsd.pid" 2>"$ev/glustereventsd.stderr"
ev_pid=$started_pid
timeout 240 "$bench" eventsd -port "$ev_port" -pid "$ev_pid" -receiver "${url%/listen}/stats" \
	-receiver-pid "$recv_pid" -log "$ev/events.log" -rate "$RATE" -duration "$DURATION" \
	-out "$tmp/eventsd.json"
stop "$ev_pid" "$recv_pid"
groups=()

# (d): glusterbus delivering to the same kind of receiver.
gw=$tmp/gw
mkdir -p "$gw/gd/events" "$gw/state"
start "$bench" receiver -addr-file "$gw/receiver.url"
recv_pid=$started_pid
wait_file "$gw/receiver.url"
url=$(cat "$gw/receiver.url")
printf '{"%s": {"token": "", "secret": ""}}\n' "$url" >"$gw/gd/events/webhooks.json"
start dbus-daemon --session --nofork --nopidfile --address="unix:path=$gw/bus.sock"
bus_pid=$started_pid
wait_file "$gw/bus.sock"
gw_port=$("$bench" freeport)
start "$tmp/glusterbus" serve --bus "unix:path=$gw/bus.sock" --gluster false \
	--glusterd-workdir "$gw/gd" --state-dir "$gw/state" --config "$gw/none.conf" \
	--events-port "$gw_port" --events-rate -1 --journal-max-events 50000000 \
	2>"$gw/glusterbus.log"
gw_pid=$started_pid
timeout 240 "$bench" eventsd -label "glusterbus webhook" -port "$gw_port" -pid "$gw_pid" \
	-receiver "${url%/listen}/stats" -receiver-pid "$recv_pid" -rate "$RATE" -duration "$DURATION" \
	-out "$tmp/gbwebhook.json"
stop "$gw_pid" "$recv_pid" "$bus_pid"
groups=()
grep -E 'level=(WARN|ERROR)' "$gw/glusterbus.log" | grep -v 'msg="reading gluster state failed"' |
	grep -v 'msg="initial read of the cluster failed' | head -5 >&2 || true

"$bench" report -glusterbus "$tmp/glusterbus.json" -eventsd "$tmp/eventsd.json" -glusterbus-webhook "$tmp/gbwebhook.json" -doc "$DOC" \
	-command "$command" -started "$started" \
	-eventsd-version "$(dpkg-query -W -f '${Version}' glusterfs-server 2>/dev/null || echo unknown)" \
	-python-version "$(python3 -c 'import platform; print(platform.python_version())')" \
	-go-version "$(go env GOVERSION)" -gluster-calls "$gluster_calls" \
	-commit "$(git rev-parse --short HEAD 2>/dev/null || echo unknown)" -load-before "$load_before" -took "$((SECONDS - t0))s"
echo "done in $((SECONDS - t0)) s${DOC:+; wrote the \"Native event ingest\" section of $DOC}" >&2
