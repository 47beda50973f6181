#!/usr/bin/env bash
# Runs glusterbus against a throwaway single-node GlusterFS on this machine,
# on a private D-Bus, and shows the bus changing as the cluster changes.
#
#   scripts/demo.sh            install what is needed, start everything, monitor
#   scripts/demo.sh gluster …  run the gluster CLI against the demo node
#   scripts/demo.sh busctl …   run busctl against the demo bus
#
# Everything lives under $GLUSTERBUS_DEMO_DIR (default /tmp/glusterbus-demo);
# Ctrl-C stops it all. Run it as root (glusterd needs it), or with sudo.
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
dir=${GLUSTERBUS_DEMO_DIR:-/tmp/glusterbus-demo}
addr=${GLUSTERBUS_DEMO_ADDR:-127.1.0.1}
gd=$dir/glusterd
gluster_cmd=(gluster "--glusterd-sock=$gd/gd.sock" "--log-file=$dir/log/cli.log" --mode=script)
bus=unix:path=$dir/bus.sock

case "${1:-}" in
gluster) shift; exec "${gluster_cmd[@]}" "$@" ;;
busctl) shift; exec busctl --address="$bus" "$@" ;;
esac

[ "$(id -u)" = 0 ] || { echo "demo.sh: run as root (glusterd needs it)" >&2; exit 1; }

"$here/scripts/install-deps.sh"
export PATH=$PATH:/usr/local/go/bin
(cd "$here" && go build -o "$dir/bin/glusterbus" ./cmd/glusterbus 2>/dev/null) ||
	{ mkdir -p "$dir/bin"; (cd "$here" && go build -o "$dir/bin/glusterbus" ./cmd/glusterbus); }
gb=$dir/bin/glusterbus

pids=()
cleanup() {
	set +e
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
	# glusterd, then bricks and self-heal daemons, by their pid files.
	for f in "$dir/glusterd.pid" $(find "$dir/run" -name '*.pid' 2>/dev/null); do
		[ -f "$f" ] && kill "$(cat "$f")" 2>/dev/null
	done
	echo "demo stopped; its files stay in $dir"
}
trap cleanup EXIT
trap 'exit 0' INT TERM

mkdir -p "$gd" "$dir/run" "$dir/log" "$dir/bricks" "$dir/state"
glusterd --xlator-option "management.working-directory=$gd" \
	--xlator-option "management.transport.socket.bind-address=$addr" \
	--xlator-option "management.run-directory=$dir/run" \
	--xlator-option "management.glusterd-sockfile=$gd/gd.sock" \
	--xlator-option "management.cluster-test-mode=$dir/log" \
	--log-file="$dir/log/glusterd.log" --pid-file="$dir/glusterd.pid"
for _ in $(seq 100); do [ -S "$gd/gd.sock" ] && break; sleep 0.1; done
[ -S "$gd/gd.sock" ] || { echo "glusterd did not start; see $dir/log/glusterd.log" >&2; exit 1; }

dbus-daemon --session --nofork --nopidfile --address="$bus" 2>/dev/null &
pids+=($!)
for _ in $(seq 50); do [ -S "$dir/bus.sock" ] && break; sleep 0.1; done

"$gb" serve --bus "$bus" --gluster "${gluster_cmd[*]}" --glusterd-workdir "$gd" \
	--state-dir "$dir/state" >"$dir/log/glusterbus.log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do "$gb" status --bus "$bus" >/dev/null 2>&1 && break; sleep 0.1; done
if ! "$gb" status --bus "$bus" >/dev/null 2>&1; then
	# Most likely the native events port is taken (glustereventsd runs).
	echo "glusterbus serve did not come up; its log:" >&2
	tail -n 20 "$dir/log/glusterbus.log" >&2
	exit 1
fi

cat <<EOT
glusterbus serves org.storaged.Storaged on a private bus: $bus
In another terminal, as root (or with sudo), change the cluster and watch
the lines below:
  $0 gluster volume create demo $addr:$dir/bricks/demo force
  $0 gluster volume start demo
  $0 gluster volume set demo performance.readdir-ahead off
  $0 busctl tree org.storaged.Storaged
  $gb status --bus $bus
Ctrl-C stops everything. The daemon's log: $dir/log/glusterbus.log
EOT
"$gb" status --bus "$bus"
echo "--- monitor ---"
"$gb" monitor --bus "$bus" &
pids+=($!)
if [ -n "${GLUSTERBUS_DEMO_SCRIPTED:-}" ]; then
	# Non-interactive run (CI, a quick look): make a few changes and stop.
	sleep 1
	"${gluster_cmd[@]}" volume create demo "$addr:$dir/bricks/demo" force
	"${gluster_cmd[@]}" volume start demo
	"${gluster_cmd[@]}" volume set demo performance.readdir-ahead off
	sleep 4
	exit 0
fi
wait
