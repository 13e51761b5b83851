#!/usr/bin/env bash
# Side-by-side benchmark: scgate vs Apache httpd 2.4 mod_proxy_scgi, both in
# front of the sample SCGI backend (bench/backend) serving /scgi-bin/hello.
#
# Usage (Debian, as root):   bench/vs-apache.sh
#                            SCENARIO=balancer bench/vs-apache.sh
# Environment:
#   SCENARIO=hello    hello:    GET /scgi-bin/hello, one backend on 127.0.0.1:4000;
#                               targets scgate (SCGATE_PORT) and apache.
#                     balancer: GET /bal/hello through a two-member balancer
#                               (backends on 127.0.0.1:4000 and 127.0.0.1:4001);
#                               targets scgate-min0 (SCGATE_PORT), scgate-min8
#                               (SCGATE_MIN8_PORT, members with min=8) and apache
#                               (ProxyPass /bal/ balancer://two/, lbmethod byrequests).
#   ROUNDS=3          interleaved rounds per target (median is reported)
#   DURATION=10s      wrk -d per round;  THREADS=1 (wrk -t), CONNS=64 (wrk -c)
#   WARMUP=2s         one untimed wrk run per target first ("0" disables)
#   APACHE_PORT=8081  SCGATE_PORT=8080  SCGATE_MIN8_PORT=8082 (balancer only)
#   SKIP_SCGATE=1     benchmark Apache only
#   KEEP_TMP=1        keep the temporary directory (configs, logs, wrk output)
#   GO=go             Go toolchain used to build the backend and scgate
#   APACHE_BIN=apache2  APACHE_MODULES=/usr/lib/apache2/modules
#
# If something already listens on 127.0.0.1:4000 (and, for the balancer,
# 127.0.0.1:4001) it is used as the backend, if something already listens on
# SCGATE_PORT (SCGATE_MIN8_PORT) it is used as the gateway (for the balancer it
# must map /bal/ to a balancer of both backends); otherwise they are built from
# this repository (go build) into a temporary directory and started here.
# Everything started here is stopped on exit, by PID.
# Nothing is written outside the temporary directory (apt-get aside).
# The Apache config has both /scgi-bin/ and /bal/, whatever the scenario.
set -euo pipefail

SCENARIO=${SCENARIO:-hello}
ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-10s}
THREADS=${THREADS:-1}
CONNS=${CONNS:-64}
WARMUP=${WARMUP:-2s}
APACHE_PORT=${APACHE_PORT:-8081}
SCGATE_PORT=${SCGATE_PORT:-8080}
SCGATE_MIN8_PORT=${SCGATE_MIN8_PORT:-8082}
SKIP_SCGATE=${SKIP_SCGATE:-0}
KEEP_TMP=${KEEP_TMP:-0}
GO=${GO:-go}
APACHE_BIN=${APACHE_BIN:-apache2}
APACHE_MODULES=${APACHE_MODULES:-/usr/lib/apache2/modules}
BACKEND_HOST=127.0.0.1
BACKEND_PORT=4000
BACKEND2_PORT=4001
case $SCENARIO in
hello)    HELLO_PATH=/scgi-bin/hello ;;
balancer) HELLO_PATH=/bal/hello ;;
*) printf 'vs-apache: SCENARIO=%s: want hello or balancer\n' "$SCENARIO" >&2; exit 2 ;;
esac
PATH=$PATH:/usr/sbin:/sbin:/usr/local/go/bin

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
template=$repo/bench/apache/scgate-bench.conf

log() { printf '== %s\n' "$*" >&2; }
die() { printf 'vs-apache: %s\n' "$*" >&2; exit 1; }

# --- prerequisites ----------------------------------------------------------
[ "$(id -u)" = 0 ] || die "run as root (installs packages, Apache drops to www-data)"
[ -r "$template" ] || die "missing $template"
if [ "$SCENARIO" = balancer ]; then
	[ "$SCGATE_PORT" != "$SCGATE_MIN8_PORT" ] && [ "$SCGATE_PORT" != "$APACHE_PORT" ] &&
		[ "$SCGATE_MIN8_PORT" != "$APACHE_PORT" ] ||
		die "SCGATE_PORT, SCGATE_MIN8_PORT and APACHE_PORT must differ"
fi

missing=()
command -v "$APACHE_BIN" >/dev/null || missing+=(apache2)
command -v wrk >/dev/null || missing+=(wrk)
command -v curl >/dev/null || missing+=(curl)
if [ ${#missing[@]} -gt 0 ]; then
	log "installing ${missing[*]}"
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
for m in mod_mpm_event mod_authz_core mod_proxy mod_proxy_scgi \
	mod_slotmem_shm mod_proxy_balancer mod_lbmethod_byrequests; do
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

wait_listening() { # host port pid what [log]
	for _ in $(seq 100); do
		listening "$1" "$2" && return 0
		if ! kill -0 "$3" 2>/dev/null; then
			[ -z "${5:-}" ] || tail -5 "$5" >&2
			die "$4 exited during startup (see $tmp)"
		fi
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
start_backend() { # port name
	if listening "$BACKEND_HOST" "$1"; then
		log "using the SCGI backend already listening on $BACKEND_HOST:$1"
		return
	fi
	if [ ! -x "$tmp/backend" ]; then
		log "building bench/backend"
		(cd "$repo" && "$GO" build -o "$tmp/backend" ./bench/backend)
	fi
	"$tmp/backend" -listen "$BACKEND_HOST:$1" 2>"$tmp/$2.log" &
	pids+=($!)
	wait_listening "$BACKEND_HOST" "$1" $! "$2"
}
start_backend "$BACKEND_PORT" backend
if [ "$SCENARIO" = balancer ]; then
	start_backend "$BACKEND2_PORT" backend2
fi

# --- scgate -------------------------------------------------------------------
if [ "$SCENARIO" = balancer ]; then
	scgate_ports="gateways yourself on :$SCGATE_PORT and :$SCGATE_MIN8_PORT"
else
	scgate_ports="gateway yourself on :$SCGATE_PORT"
fi

build_scgate() {
	[ ! -x "$tmp/scgate" ] || return 0
	log "building scgate (go build .)"
	if ! (cd "$repo" && "$GO" build -o "$tmp/scgate" .) 2>"$tmp/scgate-build.log"; then
		cat "$tmp/scgate-build.log" >&2
		die "go build . failed; start the $scgate_ports or set SKIP_SCGATE=1"
	fi
	if [ "$SCENARIO" = balancer ]; then
		local usage
		usage=$("$tmp/scgate" -h 2>&1 || true)
		[[ $usage == *-balancer* ]] ||
			die "this scgate has no -balancer flag yet; start the $scgate_ports or set SKIP_SCGATE=1"
	fi
}

start_scgate() { # name port scgate-flags...
	local name=$1 port=$2
	shift 2
	if listening 127.0.0.1 "$port"; then
		if [ "$SCENARIO" = hello ]; then
			log "using the gateway already listening on 127.0.0.1:$port"
		else
			log "using the gateway already listening on 127.0.0.1:$port as $name"
		fi
	else
		build_scgate
		"$tmp/scgate" -listen "127.0.0.1:$port" "$@" 2>"$tmp/$name.log" &
		pids+=($!)
		wait_listening 127.0.0.1 "$port" $! "$name" "$tmp/$name.log"
	fi
	targets+=("$name:$port")
}

targets=()
b1=scgi://$BACKEND_HOST:$BACKEND_PORT/
b2=scgi://$BACKEND_HOST:$BACKEND2_PORT/
if [ "$SKIP_SCGATE" = 1 ]; then
	log "SKIP_SCGATE=1: benchmarking Apache only"
elif [ "$SCENARIO" = hello ]; then
	start_scgate scgate "$SCGATE_PORT" -pass "/scgi-bin/=$b1"
else
	start_scgate scgate-min0 "$SCGATE_PORT" \
		-balancer "two=$b1,$b2" -pass /bal/=balancer://two/
	start_scgate scgate-min8 "$SCGATE_MIN8_PORT" \
		-balancer "two=$b1 min=8,$b2 min=8" -pass /bal/=balancer://two/
fi
for t in ${targets[@]+"${targets[@]}"}; do
	check_hello "${t%%:*}" "${t#*:}"
done

# --- Apache -------------------------------------------------------------------
listening 127.0.0.1 "$APACHE_PORT" && die "port $APACHE_PORT is already in use"
mkdir -p "$tmp/run" "$tmp/htdocs"
sed -e "s|@@TMP@@|$tmp|g" -e "s|@@PORT@@|$APACHE_PORT|g" \
	-e "s|@@BACKEND@@|$BACKEND_HOST:$BACKEND_PORT|g" -e "s|@@BACKEND2@@|$BACKEND_HOST:$BACKEND2_PORT|g" \
	-e "s|@@MODDIR@@|$APACHE_MODULES|g" \
	"$template" >"$tmp/apache.conf"
"$APACHE_BIN" -d "$tmp" -f "$tmp/apache.conf" -t 2>"$tmp/apache-configtest.log" ||
	{ cat "$tmp/apache-configtest.log" >&2; die "Apache config test failed"; }
log "starting $("$APACHE_BIN" -v | sed -n 's/^Server version: //p') (event MPM)"
"$APACHE_BIN" -d "$tmp" -f "$tmp/apache.conf" -DFOREGROUND 2>"$tmp/apache-stderr.log" &
pids+=($!)
wait_listening 127.0.0.1 "$APACHE_PORT" $! apache
check_hello apache "$APACHE_PORT"
targets+=("apache:$APACHE_PORT")

# Balancer sanity check: a few GET /bal/whoami must reach both backends (the
# route answers the backend address it was reached on). Warns, never fails.
check_spread() { # name port
	local seen
	seen=$(for _ in 1 2 3 4 5 6; do curl -s -m 5 "http://127.0.0.1:$2/bal/whoami" || true; echo; done |
		grep -E '^[0-9.]+:[0-9]+$' | sort -u | tr '\n' ' ' || true)
	if [ -z "$seen" ]; then
		log "$1: no answer from GET /bal/whoami (older backend?), balancer spread not checked"
	elif [ "$(wc -w <<<"$seen")" -lt 2 ]; then
		log "WARNING: $1 sent 6 GET /bal/whoami to one backend only: $seen"
	else
		log "$1 spreads /bal/ over backends ${seen% }"
	fi
}
if [ "$SCENARIO" = balancer ]; then
	for t in "${targets[@]}"; do
		check_spread "${t%%:*}" "${t#*:}"
	done
fi

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

# Column width of target names (7 as always for the hello scenario).
namew=7
for t in "${targets[@]}"; do
	name=${t%%:*}
	[ ${#name} -le "$namew" ] || namew=${#name}
done

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
		printf 'round %d/%d  %-*s %12s req/s  p99 %9s ms  errors %s\n' "$r" "$ROUNDS" "$namew" "$name" "$rps" "$p99" "$errs"
		[ "$errs" = 0 ] || log "WARNING: $name had $errs socket errors / non-2xx responses (see $out)"
	done
done

echo
echo "wrk -t$THREADS -c$CONNS -d$DURATION --latency GET $HELLO_PATH, median of $ROUNDS rounds"
if [ "$SCENARIO" = balancer ]; then
	echo "balancer of 2 SCGI backends ($BACKEND_HOST:$BACKEND_PORT, $BACKEND_HOST:$BACKEND2_PORT), lbmethod byrequests"
fi
printf '%-*s %14s %12s\n' $((namew + 1)) target 'req/s' 'p99 (ms)'
declare -A med
for t in "${targets[@]}"; do
	name=${t%%:*}
	med[$name]=$(median <"$tmp/rps-$name")
	printf '%-*s %14s %12s\n' $((namew + 1)) "$name" "${med[$name]}" "$(median <"$tmp/p99-$name")"
done
for t in "${targets[@]}"; do
	name=${t%%:*}
	[ "$name" != apache ] && [ -n "${med[apache]:-}" ] || continue
	awk -v n="$name" -v s="${med[$name]}" -v a="${med[apache]}" 'BEGIN { printf "%s/apache req/s ratio: %.2f\n", n, (a > 0 ? s / a : 0) }'
done
if grep -qv ':notice\]' "$tmp/apache-error.log" 2>/dev/null; then
	log "Apache error log warnings (last 5):"
	grep -v ':notice\]' "$tmp/apache-error.log" | tail -5 >&2
fi
