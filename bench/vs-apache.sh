#!/usr/bin/env bash
# Side-by-side benchmark: scgate vs Apache httpd 2.4 mod_proxy_scgi, both in
# front of the sample SCGI backend (bench/backend) serving /scgi-bin/hello.
#
# Usage (Debian, as root):   bench/vs-apache.sh
#                            SCENARIO=balancer bench/vs-apache.sh
#                            SCENARIO=sendfile STRACE=1 bench/vs-apache.sh
# Environment:
#   SCENARIO=hello    hello:    GET /scgi-bin/hello, one backend on 127.0.0.1:4000;
#                               targets scgate (SCGATE_PORT) and apache.
#                     balancer: GET /bal/hello through a two-member balancer
#                               (backends on 127.0.0.1:4000 and 127.0.0.1:4001);
#                               targets scgate-min0 (SCGATE_PORT), scgate-min8
#                               (SCGATE_MIN8_PORT, members with min=8) and apache
#                               (ProxyPass /bal/ balancer://two/, lbmethod byrequests).
#                     sendfile: GET /sf/sendfile?path=TMP/files/1m.bin, one backend on
#                               127.0.0.1:4000 answering X-Sendfile: TMP/files/1m.bin
#                               (a 1 MiB random file made here) and a decoy body;
#                               targets scgate (SCGATE_PORT, -sendfile-root TMP/files,
#                               -pass "/sf/=... sendfile=On") and apache
#                               (ProxySCGISendfile On). Also reports MB/s.
#   ROUNDS=3          interleaved rounds per target (median is reported)
#   DURATION=10s      wrk -d per round;  THREADS=1 (wrk -t), CONNS=64 (wrk -c)
#   WARMUP=2s         one untimed wrk run per target first ("0" disables)
#   APACHE_PORT=8081  SCGATE_PORT=8080  SCGATE_MIN8_PORT=8082 (balancer only)
#   SKIP_SCGATE=1     benchmark Apache only
#   STRACE=1          after the rounds, one more wrk run (-d5s) against the first scgate
#                     target only, under strace -c -f; prints strace's syscall summary
#                     (installs strace if missing; needs a gateway started here)
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
# The Apache config has /scgi-bin/, /bal/ and /sf/, whatever the scenario.
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
STRACE=${STRACE:-0}
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
sendfile) HELLO_PATH= ;; # /sf/sendfile?path=..., set once the temporary directory exists
*) printf 'vs-apache: SCENARIO=%s: want hello, balancer or sendfile\n' "$SCENARIO" >&2; exit 2 ;;
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
if [ "$STRACE" = 1 ]; then
	command -v strace >/dev/null || missing+=(strace)
fi
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
strace_pid=

cleanup() {
	local rc=$? pid
	trap - EXIT INT TERM
	# strace first, so that it detaches before the gateway it traces stops.
	if [ -n "$strace_pid" ]; then
		kill -INT "$strace_pid" 2>/dev/null || true
		for _ in $(seq 50); do kill -0 "$strace_pid" 2>/dev/null || break; sleep 0.1; done
		kill -KILL "$strace_pid" 2>/dev/null || true
		wait "$strace_pid" 2>/dev/null || true
	fi
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

# SCENARIO=sendfile: the file served through X-Sendfile, readable by Apache's
# www-data workers (Apache's <Directory @@SFDIR@@> allows this directory).
sfdir=$tmp/files
if [ "$SCENARIO" = sendfile ]; then
	mkdir -p "$sfdir"
	chmod 755 "$sfdir"
	head -c 1048576 /dev/urandom >"$sfdir/1m.bin"
	chmod 644 "$sfdir/1m.bin"
	sf_size=$(stat -c %s "$sfdir/1m.bin")
	sf_sha=$(sha256sum "$sfdir/1m.bin" | awk '{ print $1 }')
	HELLO_PATH="/sf/sendfile?path=$sfdir/1m.bin"
fi

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

check_sendfile() { # name port: 200 and exactly the file's bytes
	local out=$tmp/check-$1.bin code size sha
	code=$(curl -s -m 10 -o "$out" -w '%{http_code}' "http://127.0.0.1:$2$HELLO_PATH" || true)
	[ "$code" = 200 ] || die "$1: GET $HELLO_PATH answered status '$code', want 200 (see $out)"
	size=$(stat -c %s "$out")
	sha=$(sha256sum "$out" | awk '{ print $1 }')
	[ "$size" = "$sf_size" ] && [ "$sha" = "$sf_sha" ] ||
		die "$1: GET $HELLO_PATH answered $size bytes sha256 $sha, want $sf_size bytes sha256 $sf_sha (see $out)"
	rm -f "$out"
	log "$1 answers $HELLO_PATH with the file ($size bytes, sha256 ${sha:0:16}...)"
}

check_target() { # name port
	if [ "$SCENARIO" = sendfile ]; then
		check_sendfile "$@"
	else
		check_hello "$@"
	fi
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
	if [ "$SCENARIO" = sendfile ]; then
		local usage
		usage=$("$tmp/scgate" -h 2>&1 || true)
		[[ $usage == *-sendfile-root* ]] ||
			die "this scgate has no -sendfile-root flag yet; start the $scgate_ports or set SKIP_SCGATE=1"
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
		gwpid[$name]=$!
		wait_listening 127.0.0.1 "$port" $! "$name" "$tmp/$name.log"
	fi
	targets+=("$name:$port")
}

targets=()
declare -A gwpid # gateway name -> PID, for the gateways started here
b1=scgi://$BACKEND_HOST:$BACKEND_PORT/
b2=scgi://$BACKEND_HOST:$BACKEND2_PORT/
if [ "$SKIP_SCGATE" = 1 ]; then
	log "SKIP_SCGATE=1: benchmarking Apache only"
elif [ "$SCENARIO" = hello ]; then
	start_scgate scgate "$SCGATE_PORT" -pass "/scgi-bin/=$b1"
elif [ "$SCENARIO" = sendfile ]; then
	start_scgate scgate "$SCGATE_PORT" -sendfile-root "$sfdir" -pass "/sf/=$b1 sendfile=On"
else
	start_scgate scgate-min0 "$SCGATE_PORT" \
		-balancer "two=$b1,$b2" -pass /bal/=balancer://two/
	start_scgate scgate-min8 "$SCGATE_MIN8_PORT" \
		-balancer "two=$b1 min=8,$b2 min=8" -pass /bal/=balancer://two/
fi
for t in ${targets[@]+"${targets[@]}"}; do
	check_target "${t%%:*}" "${t#*:}"
done

# --- Apache -------------------------------------------------------------------
listening 127.0.0.1 "$APACHE_PORT" && die "port $APACHE_PORT is already in use"
mkdir -p "$tmp/run" "$tmp/htdocs"
sed -e "s|@@TMP@@|$tmp|g" -e "s|@@PORT@@|$APACHE_PORT|g" \
	-e "s|@@BACKEND@@|$BACKEND_HOST:$BACKEND_PORT|g" -e "s|@@BACKEND2@@|$BACKEND_HOST:$BACKEND2_PORT|g" \
	-e "s|@@SFDIR@@|$sfdir|g" -e "s|@@MODDIR@@|$APACHE_MODULES|g" \
	"$template" >"$tmp/apache.conf"
"$APACHE_BIN" -d "$tmp" -f "$tmp/apache.conf" -t 2>"$tmp/apache-configtest.log" ||
	{ cat "$tmp/apache-configtest.log" >&2; die "Apache config test failed"; }
log "starting $("$APACHE_BIN" -v | sed -n 's/^Server version: //p') (event MPM)"
"$APACHE_BIN" -d "$tmp" -f "$tmp/apache.conf" -DFOREGROUND 2>"$tmp/apache-stderr.log" &
pids+=($!)
wait_listening 127.0.0.1 "$APACHE_PORT" $! apache
check_target apache "$APACHE_PORT"
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
# parse_wrk file -> "req_per_sec p99_ms errors MB_per_sec" (MB = 2^20 bytes, as wrk)
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
	function mb(v) {
		if (v ~ /TB$/) return substr(v, 1, length(v)-2) * 1048576
		if (v ~ /GB$/) return substr(v, 1, length(v)-2) * 1024
		if (v ~ /MB$/) return substr(v, 1, length(v)-2) + 0
		if (v ~ /KB$/) return substr(v, 1, length(v)-2) / 1024
		if (v ~ /B$/)  return substr(v, 1, length(v)-1) / 1048576
		return v + 0
	}
	$1 == "Requests/sec:" { rps = $2 }
	$1 == "Transfer/sec:" { mbs = mb($2) }
	/Socket errors:/      { for (i = 4; i <= NF; i += 2) { gsub(",", "", $i); err += $i } }
	/Non-2xx or 3xx/      { err += $NF }
	END { printf "%s %.3f %d %.2f\n", (rps == "" ? "nan" : rps), p99, err, mbs }
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
		read -r rps p99 errs mbs < <(parse_wrk "$out")
		echo "$rps" >>"$tmp/rps-$name"
		echo "$p99" >>"$tmp/p99-$name"
		echo "$mbs" >>"$tmp/mbs-$name"
		if [ "$SCENARIO" = sendfile ]; then
			printf 'round %d/%d  %-*s %12s req/s  p99 %9s ms  %9s MB/s  errors %s\n' "$r" "$ROUNDS" "$namew" "$name" "$rps" "$p99" "$mbs" "$errs"
		else
			printf 'round %d/%d  %-*s %12s req/s  p99 %9s ms  errors %s\n' "$r" "$ROUNDS" "$namew" "$name" "$rps" "$p99" "$errs"
		fi
		[ "$errs" = 0 ] || log "WARNING: $name had $errs socket errors / non-2xx responses (see $out)"
	done
done

echo
echo "wrk -t$THREADS -c$CONNS -d$DURATION --latency GET $HELLO_PATH, median of $ROUNDS rounds"
if [ "$SCENARIO" = balancer ]; then
	echo "balancer of 2 SCGI backends ($BACKEND_HOST:$BACKEND_PORT, $BACKEND_HOST:$BACKEND2_PORT), lbmethod byrequests"
fi
if [ "$SCENARIO" = sendfile ]; then
	echo "X-Sendfile of a ${sf_size}-byte file ($sfdir/1m.bin); MB = 2^20 bytes (wrk Transfer/sec)"
	printf '%-*s %14s %12s %12s\n' $((namew + 1)) target 'req/s' 'p99 (ms)' 'MB/s'
else
	printf '%-*s %14s %12s\n' $((namew + 1)) target 'req/s' 'p99 (ms)'
fi
declare -A med
for t in "${targets[@]}"; do
	name=${t%%:*}
	med[$name]=$(median <"$tmp/rps-$name")
	if [ "$SCENARIO" = sendfile ]; then
		printf '%-*s %14s %12s %12s\n' $((namew + 1)) "$name" "${med[$name]}" "$(median <"$tmp/p99-$name")" "$(median <"$tmp/mbs-$name")"
	else
		printf '%-*s %14s %12s\n' $((namew + 1)) "$name" "${med[$name]}" "$(median <"$tmp/p99-$name")"
	fi
done
for t in "${targets[@]}"; do
	name=${t%%:*}
	[ "$name" != apache ] && [ -n "${med[apache]:-}" ] || continue
	awk -v n="$name" -v s="${med[$name]}" -v a="${med[apache]}" 'BEGIN { printf "%s/apache req/s ratio: %.2f\n", n, (a > 0 ? s / a : 0) }'
done

# --- STRACE=1: syscall summary of the gateway under one more wrk run ----------
if [ "$STRACE" = 1 ]; then
	st_name=
	for t in "${targets[@]}"; do
		name=${t%%:*}
		if [ "$name" != apache ] && [ -n "${gwpid[$name]:-}" ]; then
			st_name=$name st_port=${t#*:}
			break
		fi
	done
	if [ -z "$st_name" ]; then
		log "STRACE=1: no gateway started by this script (SKIP_SCGATE=1 or one already running), strace skipped"
	else
		st_out=$tmp/strace-$st_name.txt
		st_wrk=$tmp/wrk-$st_name-strace.txt
		log "STRACE=1: wrk -d5s against $st_name (PID ${gwpid[$st_name]}) under strace -c -f"
		strace -c -f -p "${gwpid[$st_name]}" -o "$st_out" 2>"$tmp/strace-stderr.log" &
		strace_pid=$!
		# Wait until strace has attached (it says "Process N attached" on stderr).
		for _ in $(seq 50); do
			grep -q attached "$tmp/strace-stderr.log" 2>/dev/null && break
			kill -0 "$strace_pid" 2>/dev/null ||
				{ cat "$tmp/strace-stderr.log" >&2; die "strace exited before attaching"; }
			sleep 0.1
		done
		wrk -t"$THREADS" -c"$CONNS" -d5s --latency "$(url_of "$st_name:$st_port")" >"$st_wrk"
		kill -INT "$strace_pid" 2>/dev/null || true
		wait "$strace_pid" || true
		strace_pid=
		read -r rps p99 errs mbs < <(parse_wrk "$st_wrk")
		echo
		echo "strace -c -f -p <$st_name PID> during wrk -t$THREADS -c$CONNS -d5s GET $HELLO_PATH"
		echo "(under strace: $rps req/s, $mbs MB/s, errors $errs; not comparable with the numbers above)"
		cat "$st_out"
	fi
fi
if grep -qv ':notice\]' "$tmp/apache-error.log" 2>/dev/null; then
	log "Apache error log warnings (last 5):"
	grep -v ':notice\]' "$tmp/apache-error.log" | tail -5 >&2
fi
