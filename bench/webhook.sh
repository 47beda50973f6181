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
# with EVENTS (default 50000) events per run, prints them and writes the
# "Webhook delivery" section of docs/benchmarks.md with the machine, the date
# and the command (DOC= to write elsewhere, DOC= empty to skip). No root, no
# cluster: the receivers are HTTP servers in the test process, on loopback.
set -euo pipefail

cd "$(dirname "$0")/.."
export PATH=$PATH:/usr/local/go/bin
COUNT=${COUNT:-3}
EVENTS=${EVENTS:-50000}
DOC=${DOC-docs/benchmarks.md}

env_args=""
[[ $COUNT != 3 ]] && env_args+="COUNT=$COUNT "
[[ $EVENTS != 50000 ]] && env_args+="EVENTS=$EVENTS "
command="${env_args}bench/webhook.sh"
started=$(date -u +"%Y-%m-%d %H:%M UTC")
load_before=$(cut -d' ' -f1-3 /proc/loadavg)
t0=$SECONDS

out=$(mktemp)
trap 'rm -f "$out"' EXIT
go test -count="$COUNT" -run '^$' -bench '^(BenchmarkDeliver|BenchmarkCatchUp)$' -benchtime "${EVENTS}x" \
	-timeout 30m ./internal/webhook | tee -a "$out"
go test -count="$COUNT" -run '^$' -bench '^BenchmarkAppend' -benchtime 2s ./internal/journal | tee -a "$out"
load_after=$(cut -d' ' -f1-3 /proc/loadavg)

# figures NAME UNIT: the UNIT values of benchmark NAME, as "min / median /
# max" over the runs.
figures() {
	awk -v name="$1" -v unit="$2" '
		$1 ~ "^" name "(-[0-9]+)?$" { for (i = 3; i < NF; i++) if ($(i + 1) == unit) v[n++] = $i }
		END {
			if (n == 0) { print "n/a"; exit }
			for (i = 0; i < n; i++) for (j = i + 1; j < n; j++) if (v[j] < v[i]) { t = v[i]; v[i] = v[j]; v[j] = t }
			printf "%.0f / %.0f / %.0f", v[0], v[int((n - 1) / 2)], v[n - 1]
		}' "$out"
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

A receiver that was down for an hour at 10 events/s (36 000 events) is caught up in about
$(awk -v r="$(figures 'BenchmarkCatchUp' events/s | awk -F' / ' '{ print $2 }')" 'BEGIN { if (r > 0) printf "%.1f", 36000 / r; else print "n/a" }') s at the median rate above. Memory does not grow with the backlog:
it lives in the journal, and each webhook reads it in pages (\`internal/webhook\`, TestStalledReceiverIsolated).

\`\`\`
$(grep -E '^(Benchmark|goos|goarch|cpu|pkg)' "$out")
\`\`\`
TEXT
)

if [[ -n $DOC ]]; then
	tmpdoc=$(mktemp "$DOC.XXXXXX")
	awk -v section="$section" '
		/^## Webhook delivery$/ { print section; skip = 1; done = 1; next }
		skip && /^## / { skip = 0; print "" }
		!skip { print }
		END { if (!done) print "\n" section }' "$DOC" >"$tmpdoc"
	mv "$tmpdoc" "$DOC"
	echo "wrote the \"Webhook delivery\" section of $DOC" >&2
else
	echo "$section"
fi
