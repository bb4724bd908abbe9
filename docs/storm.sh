#!/bin/sh
# Reproduces the reconnect-storm figure of docs/benchmarks.md ("Reconnect
# storm"): a fresh hub on a file store, 1,000 live subscribers at 100
# events/s, then 5,000 more streams connecting at once, each resuming 1,000
# events back. Each round starts a new hub on a new data folder, pinned to
# core 0, with the load tool pinned to core 1, and prints the load average
# before it and the storm's lines of the tool's report.
#
#   docs/storm.sh [ROUNDS] [HUB...]
#
# A HUB is a binary, optionally with serve flags in the same word
# ("./ssehub --max-setups 0"). With several (an A/B comparison) the rounds
# alternate between them, so all meet the same conditions. The load tool
# is always the first binary. Environment: LIVE (1000), RESUMERS (5000), BEHIND
# (1000), RATE (100), DURATION (25s), PORT (18090), ADMIN (empty: no admin
# listener; e.g. 127.0.0.1:18091 to take a trace during the storm), TOOL_GOMAXPROCS
# (empty: the load tool chooses its Ps; a number: GOMAXPROCS for the tool only),
# STORM_PROCESS (child: the resumers in a process of their own, the tool's
# default; same: in the load tool's process), DETAIL (empty; 1: print each
# publish of the storm with its live deliveries, --storm-detail).
set -eu
rounds=${1:-3}
[ $# -gt 0 ] && shift
[ $# -eq 0 ] && set -- ./ssehub
tool=${1%% *}
LIVE=${LIVE:-1000} RESUMERS=${RESUMERS:-5000} BEHIND=${BEHIND:-1000}
RATE=${RATE:-100} DURATION=${DURATION:-25s} PORT=${PORT:-18090} ADMIN=${ADMIN:-}
TOOL_GOMAXPROCS=${TOOL_GOMAXPROCS:-} STORM_PROCESS=${STORM_PROCESS:-child} DETAIL=${DETAIL:-}
detail=""
[ -n "$DETAIL" ] && detail="--storm-detail"
# pin CORE CMD...: run CMD on CORE only (as this process: exec), where
# taskset exists.
pin() { c=$1; shift; if command -v taskset >/dev/null; then exec taskset -c "$c" "$@"; else exec "$@"; fi; }
ulimit -n 20000
for round in $(seq "$rounds"); do
	for hub in "$@"; do
		dir=$(mktemp -d)
		admin=""
		[ -n "$ADMIN" ] && admin="--admin-listen $ADMIN"
		# shellcheck disable=SC2086
		(set -- $hub; bin=$1; shift; pin 0 "$bin" serve --listen 127.0.0.1:"$PORT" --store file:"$dir/data" \
			--jwt-key benchkey --demo=false $admin "$@" >"$dir/hub.log" 2>&1) &
		pid=$!
		for _ in $(seq 300); do
			curl -fs "http://127.0.0.1:$PORT/healthz" >/dev/null 2>&1 && break
			sleep 0.1
		done
		token=$("$tool" token --jwt-key benchkey --publish '*')
		echo "== round $round, hub $hub, $(uptime | sed 's/.*load/load/')"
		(if [ -n "$TOOL_GOMAXPROCS" ]; then export GOMAXPROCS="$TOOL_GOMAXPROCS"; fi
		pin 1 "$tool" bench --url "http://127.0.0.1:$PORT" --token "$token" --subscribers "$LIVE" \
			--rate "$RATE" --batch 10 --duration "$DURATION" --resumers "$RESUMERS" --resume-behind "$BEHIND" --storm-process "$STORM_PROCESS" $detail \
			2>/dev/null) | grep -E '^(storm batch|missed|resumers|caught up|live p99|publish)' || true
		kill "$pid"
		wait "$pid" 2>/dev/null || true
		rm -rf "$dir"
	done
done
