#!/bin/bash
# Webhook delivery and the event journal it reads from:
#
#   bench/webhook.sh
#
# runs, COUNT times each (default 3), the Go benchmarks
#   internal/webhook BenchmarkDeliver   events appended to the journal and
#                                       POSTed to 1 and to 10 local receivers
#   internal/webhook BenchmarkCatchUp   a backlog of EVENTS drained once the
#                                       receiver that was down answers again
#   internal/journal BenchmarkAppend*   durable appends, one by one and from
#                                       many goroutines (group commit)
# with EVENTS (default 50000) events per run, and then, as root with
# iproute2 (REMOTE=0 skips it), REMOTE_COUNT times (default 1)
#   internal/webhook BenchmarkCatchUpRemote
#                                       a backlog of REMOTE_EVENTS (default
#                                       36000) drained to a receiver DELAY
#                                       (default 20ms) of round trip away, one
#                                       event per POST and BATCH (default 100)
#                                       per POST
# The far receiver (bench/remotehook) runs in a network namespace of the
# script's own, reached over a veth pair with addresses of a /30 of
# 198.18.0.0/15 (the benchmarking range) that nothing on the machine uses;
# the delay is netem's on the veth (tc qdisc ... netem delay DELAY), or, on a
# kernel without netem, bench/remotehook's relay in the namespace that holds
# each direction for DELAY/2. All of it is removed on exit.
#
# It prints the figures and writes the "Webhook delivery" section of
# docs/benchmarks.md with the machine, the date and the command (DOC= to
# write elsewhere, DOC= empty to skip), and the catch-up figures into the
# "Catch-up over a slow link" section of docs/webhooks.md (WEBHOOKS_DOC=, the
# same way). The loopback receivers are HTTP servers in the test process.
set -euo pipefail

cd "$(dirname "$0")/.."
export PATH=$PATH:/usr/local/go/bin
COUNT=${COUNT:-3}
EVENTS=${EVENTS:-50000}
DOC=${DOC-docs/benchmarks.md}
WEBHOOKS_DOC=${WEBHOOKS_DOC-docs/webhooks.md}
REMOTE=${REMOTE:-1}
REMOTE_COUNT=${REMOTE_COUNT:-1}
REMOTE_EVENTS=${REMOTE_EVENTS:-36000}
BATCH=${BATCH:-100}
DELAY=${DELAY:-20ms}

env_args=""
[[ $COUNT != 3 ]] && env_args+="COUNT=$COUNT "
[[ $EVENTS != 50000 ]] && env_args+="EVENTS=$EVENTS "
[[ $REMOTE != 1 ]] && env_args+="REMOTE=$REMOTE "
[[ $REMOTE_COUNT != 1 ]] && env_args+="REMOTE_COUNT=$REMOTE_COUNT "
[[ $REMOTE_EVENTS != 36000 ]] && env_args+="REMOTE_EVENTS=$REMOTE_EVENTS "
[[ $BATCH != 100 ]] && env_args+="BATCH=$BATCH "
[[ $DELAY != 20ms ]] && env_args+="DELAY=$DELAY "
command="${env_args}bench/webhook.sh"
started=$(date -u +"%Y-%m-%d %H:%M UTC")
load_before=$(cut -d' ' -f1-3 /proc/loadavg)
t0=$SECONDS

out=$(mktemp)
tmp=$(mktemp -d)
ns="" host_if="" pids=()
cleanup() {
	local rc=$?
	trap - EXIT INT TERM
	local p
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
	[[ -n $host_if ]] && ip link del "$host_if" 2>/dev/null || true
	[[ -n $ns ]] && ip netns del "$ns" 2>/dev/null || true
	rm -rf "$out" "$tmp"
	exit $rc
}
trap cleanup EXIT INT TERM

if [[ $REMOTE == 1 ]] && { [[ $EUID != 0 ]] || ! command -v ip >/dev/null; }; then
	echo "the catch-up over a slow link needs root and iproute2 (REMOTE=0 skips it)" >&2
	exit 1
fi

go test -count="$COUNT" -run '^$' -bench '^(BenchmarkDeliver|BenchmarkCatchUp)$' -benchtime "${EVENTS}x" \
	-timeout 30m ./internal/webhook | tee -a "$out"
go test -count="$COUNT" -run '^$' -bench '^BenchmarkAppend' -benchtime 2s ./internal/journal | tee -a "$out"
load_after=$(cut -d' ' -f1-3 /proc/loadavg)

# remote_setup makes the namespace, the veth pair and the delay, starts the
# receiver in the namespace and sets remote_url, link and rtt.
remote_setup() {
	ns=gbwh$$ host_if=gbwh$$h
	local ns_if=gbwh$$n net
	net=198.18.$(($$ % 250 + 1))
	if ip -4 route show table all | grep -q "$net\." || ip -4 addr | grep -q " $net\."; then
		echo "$net.0/30 is in use on this machine; not touching it" >&2
		exit 1
	fi
	go build -o "$tmp/remotehook" ./bench/remotehook
	ip netns add "$ns"
	ip link add "$host_if" type veth peer name "$ns_if" netns "$ns"
	ip addr add "$net.1/30" dev "$host_if"
	ip link set "$host_if" up
	ip -n "$ns" addr add "$net.2/30" dev "$ns_if"
	ip -n "$ns" link set "$ns_if" up
	ip -n "$ns" link set lo up
	if tc qdisc add dev "$host_if" root netem delay "$DELAY" 2>/dev/null; then
		link="netem: \`tc qdisc add dev <veth> root netem delay $DELAY\` on the host's end of the veth pair"
		ip netns exec "$ns" "$tmp/remotehook" receive -listen "$net.2:8080" &
		pids+=($!)
	else
		link="a relay (\`bench/remotehook delay\`) in the namespace that holds each chunk for half of $DELAY in each direction, as this kernel has no netem (CONFIG_NET_SCH_NETEM is not set)"
		ip netns exec "$ns" "$tmp/remotehook" receive -listen "127.0.0.1:8081" &
		pids+=($!)
		ip netns exec "$ns" "$tmp/remotehook" delay -listen "$net.2:8080" -to 127.0.0.1:8081 -delay "$DELAY" &
		pids+=($!)
	fi
	remote_url=http://$net.2:8080
	local i
	for i in $(seq 100); do
		curl -fs "$remote_url/count" >/dev/null && break
		sleep 0.1
	done
	# The round trip an HTTP request sees, measured as the receiver's
	# client sees it (ping does not cross the relay).
	rtt=$(curl -so /dev/null -w '%{time_total}\n' "$remote_url/count" "$remote_url/count" "$remote_url/count" "$remote_url/count" "$remote_url/count" |
		sort -n | awk '{ v[NR] = $1 } END { printf "%.1f ms", v[int((NR + 1) / 2)] * 1000 }')
}

if [[ $REMOTE == 1 ]]; then
	remote_setup
	echo "receiver at $remote_url over $link; HTTP round trip $rtt" >&2
	remote_load_before=$(cut -d' ' -f1-3 /proc/loadavg)
	GLUSTERBUS_BENCH_REMOTE=$remote_url GLUSTERBUS_BENCH_BATCH=$BATCH \
		go test -count="$REMOTE_COUNT" -run '^$' -bench '^BenchmarkCatchUpRemote$' -benchtime "${REMOTE_EVENTS}x" \
		-timeout 120m ./internal/webhook | tee -a "$out"
	remote_load_after=$(cut -d' ' -f1-3 /proc/loadavg)
fi

# figures NAME UNIT [FORMAT]: the UNIT values of benchmark NAME, as "min /
# median / max" over the runs, each printed with FORMAT (default %.0f).
figures() {
	awk -v name="$1" -v unit="$2" -v f="${3:-%.0f}" '
		$1 ~ "^" name "(-[0-9]+)?$" { for (i = 3; i < NF; i++) if ($(i + 1) == unit) v[n++] = $i }
		END {
			if (n == 0) { print "n/a"; exit }
			for (i = 0; i < n; i++) for (j = i + 1; j < n; j++) if (v[j] < v[i]) { t = v[i]; v[i] = v[j]; v[j] = t }
			printf f " / " f " / " f, v[0], v[int((n - 1) / 2)], v[n - 1]
		}' "$out"
}

# hour says what REMOTE_EVENTS events are when it is the default.
hour() { [[ $REMOTE_EVENTS != 36000 ]] || echo " (an hour at 10 events/s)"; }

# remote_rows are the table's rows of the catch-up over a slow link.
remote_rows() {
	[[ $REMOTE == 1 ]] || return 0
	echo "| catch-up over a link of $DELAY round trip: $REMOTE_EVENTS events, one per POST | $(figures 'BenchmarkCatchUpRemote/batch=0' events/s) |"
	echo "| catch-up over a link of $DELAY round trip: $REMOTE_EVENTS events, up to $BATCH per POST (\`\"batch\": $BATCH\`) | $(figures "BenchmarkCatchUpRemote/batch=$BATCH" events/s) |"
}

# remote_text says how the catch-up over a slow link was measured.
remote_text() {
	[[ $REMOTE == 1 ]] || return 0
	cat <<REMOTE_TEXT
The catch-up over a slow link: a backlog of $REMOTE_EVENTS events$(hour) in the journal, the
webhook's cursor at its start, the Deliverer started and timed until the receiver counted the last event.
The receiver (\`bench/remotehook receive\`, counting events by \`X-Glusterbus-Sequence\` and checking that
none came twice or out of order) runs in a network namespace of the benchmark's own, reached over a veth pair;
the delay is $link. An HTTP request to it took $rtt (median of 5). One event per POST took
$(figures 'BenchmarkCatchUpRemote/batch=0' s %.1f) s; with \`"batch": $BATCH\`, $(figures "BenchmarkCatchUpRemote/batch=$BATCH" s %.1f) s
(min / median / max of $REMOTE_COUNT run(s); load average before / after: $remote_load_before / $remote_load_after).
REMOTE_TEXT
}

section=$(
	cat <<TEXT
## Webhook delivery

Measured on $started by

    $command

(from the repository's top directory, at commit $(git rev-parse --short HEAD 2>/dev/null || echo unknown); the run took $((SECONDS - t0)) s). Load average before / after: $load_before / $load_after.

Machine: $(nproc) × $(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo), $(awk '/MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo) RAM, Linux $(uname -r); $(go env GOVERSION).

Each benchmark ran $COUNT times with $EVENTS events; the figures are min / median / max over those runs. Events are
appended to a real journal (bbolt, fsync on commit) as the daemon appends them, and delivered by the real \`Deliverer\`
(one goroutine per webhook, durable cursors, the JSON body and headers of gluster-eventsapi) to HTTP receivers on loopback
in the same process that answer 200 at once: what is measured is glusterbus's side of delivery.

| what | events/s |
| --- | ---: |
| delivered to 1 receiver, as they are appended | $(figures 'BenchmarkDeliver/receivers=1' events/s) |
| delivered to each of 10 receivers, as they are appended | $(figures 'BenchmarkDeliver/receivers=10' events/s) |
| POSTs per second in all, 10 receivers | $(figures 'BenchmarkDeliver/receivers=10' posts/s) |
| catch-up: a backlog of $EVENTS events drained after an outage (receiver answered 503 until then) | $(figures 'BenchmarkCatchUp' events/s) |
| journal appends, one at a time (each its own fsync) | $(figures 'BenchmarkAppendSerial' events/s) |
| journal appends from 64 goroutines per core (group commit) | $(figures 'BenchmarkAppendConcurrent' events/s) |
$(remote_rows)

A receiver that was down for an hour at 10 events/s (36 000 events) is caught up in about
$(awk -v r="$(figures 'BenchmarkCatchUp' events/s | awk -F' / ' '{ print $2 }')" 'BEGIN { if (r > 0) printf "%.1f", 36000 / r; else print "n/a" }') s at the median rate above. Memory does not grow with the backlog:
it lives in the journal, and each webhook reads it in pages (\`internal/webhook\`, TestStalledReceiverIsolated).

$(remote_text)

\`\`\`
$(grep -E '^(Benchmark|goos|goarch|cpu|pkg)' "$out")
\`\`\`
TEXT
)

# write_section FILE HEADING TEXT replaces the section HEADING of FILE
# (up to the next "## ") by TEXT, or appends TEXT.
write_section() {
	local tmpdoc
	tmpdoc=$(mktemp "$1.XXXXXX")
	awk -v heading="$2" -v section="$3" '
		$0 == heading { print section; skip = 1; done = 1; next }
		skip && /^## / { skip = 0; print "" }
		!skip { print }
		END { if (!done) print "\n" section }' "$1" >"$tmpdoc"
	mv "$tmpdoc" "$1"
	echo "wrote the \"${2#\#\# }\" section of $1" >&2
}

if [[ -n $DOC ]]; then
	write_section "$DOC" "## Webhook delivery" "$section"
else
	echo "$section"
fi

if [[ $REMOTE == 1 ]]; then
	webhooks_section=$(
		cat <<TEXT
## Catch-up over a slow link

A webhook's backlog drains at one round trip per POST. Measured on $started by \`$command\` (see
[benchmarks.md](benchmarks.md#webhook-delivery)), on $(nproc) × $(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo), Linux $(uname -r), a
shared machine (load average $remote_load_before before, $remote_load_after after): $REMOTE_EVENTS events$(hour)
to a receiver $DELAY of round trip away (an HTTP request took $rtt) took

| delivery | seconds | events/s |
| --- | ---: | ---: |
| one event per POST (as glustereventsd) | $(figures 'BenchmarkCatchUpRemote/batch=0' s %.1f) | $(figures 'BenchmarkCatchUpRemote/batch=0' events/s) |
| \`"batch": $BATCH\` | $(figures "BenchmarkCatchUpRemote/batch=$BATCH" s %.1f) | $(figures "BenchmarkCatchUpRemote/batch=$BATCH" events/s) |

(min / median / max of $REMOTE_COUNT run(s)). The delay is $link.
TEXT
	)
	if [[ -n $WEBHOOKS_DOC ]]; then
		write_section "$WEBHOOKS_DOC" "## Catch-up over a slow link" "$webhooks_section"
	else
		echo "$webhooks_section"
	fi
fi
