#!/usr/bin/env bash
# Side-by-side benchmark: scgate vs Apache httpd 2.4 mod_proxy_scgi, both in
# front of the sample SCGI backend (bench/backend) serving /scgi-bin/hello.
#
# Usage (Debian, as root):   bench/vs-apache.sh
# Environment:
#   ROUNDS=3          interleaved rounds per target (median is reported)
#   DURATION=10s      wrk -d per round;  THREADS=1 (wrk -t), CONNS=64 (wrk -c)
#   WARMUP=2s         one untimed wrk run per target first ("0" disables)
#   APACHE_PORT=8081  SCGATE_PORT=8080
#   SKIP_SCGATE=1     benchmark Apache only
#   KEEP_TMP=1        keep the temporary directory (configs, logs, wrk output)
#   GO=go             Go toolchain used to build the backend and scgate
#   APACHE_BIN=apache2  APACHE_MODULES=/usr/lib/apache2/modules
#
# If something already listens on 127.0.0.1:4000 it is used as the backend,
# if something already listens on SCGATE_PORT it is used as the gateway;
# otherwise both are built from this repository (go build) into a temporary
# directory and started here. Everything started here is stopped on exit.
# Nothing is written outside the temporary directory (apt-get aside).
set -euo pipefail

ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-10s}
THREADS=${THREADS:-1}
CONNS=${CONNS:-64}
WARMUP=${WARMUP:-2s}
APACHE_PORT=${APACHE_PORT:-8081}
SCGATE_PORT=${SCGATE_PORT:-8080}
SKIP_SCGATE=${SKIP_SCGATE:-0}
KEEP_TMP=${KEEP_TMP:-0}
GO=${GO:-go}
APACHE_BIN=${APACHE_BIN:-apache2}
APACHE_MODULES=${APACHE_MODULES:-/usr/lib/apache2/modules}
BACKEND_HOST=127.0.0.1
BACKEND_PORT=4000
HELLO_PATH=/scgi-bin/hello
PATH=$PATH:/usr/sbin:/sbin:/usr/local/go/bin

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
template=$repo/bench/apache/scgate-bench.conf

log() { printf '== %s\n' "$*" >&2; }
die() { printf 'vs-apache: %s\n' "$*" >&2; exit 1; }

# --- prerequisites ----------------------------------------------------------
[ "$(id -u)" = 0 ] || die "run as root (installs packages, Apache drops to www-data)"
[ -r "$template" ] || die "missing $template"

missing=()
command -v "$APACHE_BIN" >/dev/null || missing+=(apache2)
command -v wrk >/dev/null || missing+=(wrk)
command -v curl >/dev/null || missing+=(curl)
if [ ${#missing[@]} -gt 0 ]; then
	log "installing ${missing[*]}"
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
for m in mod_mpm_event mod_authz_core mod_proxy mod_proxy_scgi; do
	[ -r "$APACHE_MODULES/$m.so" ] || die "missing $APACHE_MODULES/$m.so"
done

# --- process management -----------------------------------------------------
tmp=$(mktemp -d /tmp/scgate-bench.XXXXXX)
chmod 755 "$tmp"
pids=()

cleanup() {
	local rc=$? pid
	trap - EXIT INT TERM
	for pid in "${pids[@]}"; do
		kill -TERM "$pid" 2>/dev/null || true
	done
	for pid in "${pids[@]}"; do
		# Give each process up to 5 s to exit, then force it.
		for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
		kill -KILL "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
	done
	if [ "$rc" != 0 ] || [ "$KEEP_TMP" = 1 ]; then
		log "temporary files kept in $tmp"
	else
		rm -rf "$tmp"
	fi
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

listening() { (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null; }

wait_listening() { # host port pid what
	for _ in $(seq 100); do
		listening "$1" "$2" && return 0
		kill -0 "$3" 2>/dev/null || die "$4 exited during startup (see $tmp)"
		sleep 0.1
	done
	die "$4 not listening on $1:$2 after 10 s"
}

check_hello() { # name port
	local got
	got=$(curl -s -m 5 "http://127.0.0.1:$2$HELLO_PATH" || true)
	[ "$got" = "Hello, world!" ] || die "$1: GET $HELLO_PATH answered '${got:0:200}', want 'Hello, world!'"
	log "$1 answers $HELLO_PATH correctly"
}

# --- backend ------------------------------------------------------------------
if listening "$BACKEND_HOST" "$BACKEND_PORT"; then
	log "using the SCGI backend already listening on $BACKEND_HOST:$BACKEND_PORT"
else
	log "building bench/backend"
	(cd "$repo" && "$GO" build -o "$tmp/backend" ./bench/backend)
	"$tmp/backend" -listen "$BACKEND_HOST:$BACKEND_PORT" 2>"$tmp/backend.log" &
	pids+=($!)
	wait_listening "$BACKEND_HOST" "$BACKEND_PORT" $! backend
fi

# --- scgate -------------------------------------------------------------------
targets=()
if [ "$SKIP_SCGATE" = 1 ]; then
	log "SKIP_SCGATE=1: benchmarking Apache only"
elif listening 127.0.0.1 "$SCGATE_PORT"; then
	log "using the gateway already listening on 127.0.0.1:$SCGATE_PORT"
	targets+=("scgate:$SCGATE_PORT")
else
	log "building scgate (go build .)"
	if ! (cd "$repo" && "$GO" build -o "$tmp/scgate" .) 2>"$tmp/scgate-build.log"; then
		cat "$tmp/scgate-build.log" >&2
		die "go build . failed; start the gateway yourself on :$SCGATE_PORT or set SKIP_SCGATE=1"
	fi
	"$tmp/scgate" -listen "127.0.0.1:$SCGATE_PORT" \
		-pass "/scgi-bin/=scgi://$BACKEND_HOST:$BACKEND_PORT/" 2>"$tmp/scgate.log" &
	pids+=($!)
	wait_listening 127.0.0.1 "$SCGATE_PORT" $! scgate
	targets+=("scgate:$SCGATE_PORT")
fi
if [ ${#targets[@]} -gt 0 ]; then
	check_hello scgate "$SCGATE_PORT"
fi

# --- Apache -------------------------------------------------------------------
listening 127.0.0.1 "$APACHE_PORT" && die "port $APACHE_PORT is already in use"
mkdir -p "$tmp/run" "$tmp/htdocs"
sed -e "s|@@TMP@@|$tmp|g" -e "s|@@PORT@@|$APACHE_PORT|g" \
	-e "s|@@BACKEND@@|$BACKEND_HOST:$BACKEND_PORT|g" -e "s|@@MODDIR@@|$APACHE_MODULES|g" \
	"$template" >"$tmp/apache.conf"
"$APACHE_BIN" -d "$tmp" -f "$tmp/apache.conf" -t 2>"$tmp/apache-configtest.log" ||
	{ cat "$tmp/apache-configtest.log" >&2; die "Apache config test failed"; }
log "starting $("$APACHE_BIN" -v | sed -n 's/^Server version: //p') (event MPM)"
"$APACHE_BIN" -d "$tmp" -f "$tmp/apache.conf" -DFOREGROUND 2>"$tmp/apache-stderr.log" &
pids+=($!)
wait_listening 127.0.0.1 "$APACHE_PORT" $! apache
check_hello apache "$APACHE_PORT"
targets+=("apache:$APACHE_PORT")

# --- benchmark ----------------------------------------------------------------
# parse_wrk file -> "req_per_sec p99_ms errors"
parse_wrk() {
	awk '
	function ms(v) {
		if (v ~ /us$/) return substr(v, 1, length(v)-2) / 1000
		if (v ~ /ms$/) return substr(v, 1, length(v)-2) + 0
		if (v ~ /m$/)  return substr(v, 1, length(v)-1) * 60000
		if (v ~ /s$/)  return substr(v, 1, length(v)-1) * 1000
		return v + 0
	}
	$1 == "99%"           { p99 = ms($2) }
	$1 == "Requests/sec:" { rps = $2 }
	/Socket errors:/      { for (i = 4; i <= NF; i += 2) { gsub(",", "", $i); err += $i } }
	/Non-2xx or 3xx/      { err += $NF }
	END { printf "%s %.3f %d\n", (rps == "" ? "nan" : rps), p99, err }
	' "$1"
}

median() { sort -g | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR+1)/2]; else printf "%.3f\n", (v[NR/2] + v[NR/2+1]) / 2 }'; }

url_of() { echo "http://127.0.0.1:${1#*:}$HELLO_PATH"; }

log "machine: $(nproc) CPUs, kernel $(uname -r), $(wrk -v 2>&1 | awk 'NR == 1 { print $1, $2 }')"
if [ "$WARMUP" != 0 ]; then
	for t in "${targets[@]}"; do
		log "warm-up ${t%%:*} ($WARMUP)"
		wrk -t"$THREADS" -c"$CONNS" -d"$WARMUP" "$(url_of "$t")" >/dev/null
	done
fi
for r in $(seq "$ROUNDS"); do
	for t in "${targets[@]}"; do
		name=${t%%:*}
		out=$tmp/wrk-$name-$r.txt
		wrk -t"$THREADS" -c"$CONNS" -d"$DURATION" --latency "$(url_of "$t")" >"$out"
		read -r rps p99 errs < <(parse_wrk "$out")
		echo "$rps" >>"$tmp/rps-$name"
		echo "$p99" >>"$tmp/p99-$name"
		printf 'round %d/%d  %-7s %12s req/s  p99 %9s ms  errors %s\n' "$r" "$ROUNDS" "$name" "$rps" "$p99" "$errs"
		[ "$errs" = 0 ] || log "WARNING: $name had $errs socket errors / non-2xx responses (see $out)"
	done
done

echo
echo "wrk -t$THREADS -c$CONNS -d$DURATION --latency GET $HELLO_PATH, median of $ROUNDS rounds"
printf '%-8s %14s %12s\n' target 'req/s' 'p99 (ms)'
declare -A med
for t in "${targets[@]}"; do
	name=${t%%:*}
	med[$name]=$(median <"$tmp/rps-$name")
	printf '%-8s %14s %12s\n' "$name" "${med[$name]}" "$(median <"$tmp/p99-$name")"
done
if [ -n "${med[scgate]:-}" ] && [ -n "${med[apache]:-}" ]; then
	awk -v s="${med[scgate]}" -v a="${med[apache]}" 'BEGIN { printf "scgate/apache req/s ratio: %.2f\n", (a > 0 ? s / a : 0) }'
fi
if grep -qv ':notice\]' "$tmp/apache-error.log" 2>/dev/null; then
	log "Apache error log warnings (last 5):"
	grep -v ':notice\]' "$tmp/apache-error.log" | tail -5 >&2
fi
