#!/usr/bin/env bash
# Benchmarks TLS termination side by side: gantry and HAProxy, the same
# ECDSA P-256 certificate, the same origin (an HAProxy answering 200 "ok"
# itself), measured with h2load (nghttp2-client):
#
#   handshakes/s  h2load -c N -n N -m 1: every connection makes a full TLS
#                 1.3 handshake (no resumption) and one h2 request
#   h2 requests/s h2load -c 16 -m 16 -D DURATION: multiplexed requests over
#                 kept connections, proxied to the HTTP/1.1 origin
#
# Usage: scripts/bench-tls.sh [rounds=2] [duration=8] [handshakes=1000]
# Runs in about rounds * (2 * duration + 10) seconds. The machine may be
# shared: compare the ratios, not the absolute numbers.
set -euo pipefail
rounds=${1:-2}
duration=${2:-8}
conns=${3:-1000}

tmp=$(mktemp -d)
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
	rm -rf "$tmp"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }
wait_port() {
	for _ in $(seq 1 100); do
		if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then return 0; fi
		sleep 0.1
	done
	echo "nothing listens on $1" >&2
	exit 1
}

cd "$(dirname "$0")/.."
go build -o "$tmp/gantry" ./cmd/gantry

# One certificate for both, signed by a CA of this run.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj /CN=bench-ca \
	-keyout "$tmp/ca.key" -out "$tmp/ca.pem" 2>/dev/null
openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=bench.example.com \
	-keyout "$tmp/leaf.key" -out "$tmp/leaf.csr" 2>/dev/null
printf 'subjectAltName=DNS:bench.example.com\nextendedKeyUsage=serverAuth\n' >"$tmp/ext"
openssl x509 -req -in "$tmp/leaf.csr" -CA "$tmp/ca.pem" -CAkey "$tmp/ca.key" -CAcreateserial -days 2 \
	-extfile "$tmp/ext" -out "$tmp/leaf.pem" 2>/dev/null
cat "$tmp/leaf.pem" "$tmp/leaf.key" >"$tmp/combined.pem"

origin=$(free_port)
cat >"$tmp/origin.cfg" <<EOF
global
	nbthread 1
defaults
	mode http
	timeout connect 5s
	timeout client 30s
	timeout server 30s
frontend origin
	bind 127.0.0.1:$origin
	http-request return status 200 content-type text/plain string ok
EOF
haproxy -f "$tmp/origin.cfg" -db >"$tmp/origin.log" 2>&1 &
pids+=($!)

hport=$(free_port)
cat >"$tmp/haproxy.cfg" <<EOF
global
	nbthread 2
	tune.ssl.default-dh-param 2048
	ssl-default-bind-options ssl-min-ver TLSv1.2
defaults
	mode http
	timeout connect 5s
	timeout client 30s
	timeout server 30s
	option http-keep-alive
frontend tls
	bind 127.0.0.1:$hport ssl crt $tmp/combined.pem alpn h2,http/1.1
	default_backend origin
backend origin
	http-reuse always
	server o 127.0.0.1:$origin
EOF
haproxy -f "$tmp/haproxy.cfg" -db >"$tmp/haproxy.log" 2>&1 &
pids+=($!)

admin=$(free_port)
gport=$(free_port)
"$tmp/gantry" serve --admin "127.0.0.1:$admin" --data "$tmp/data" --docker off --log-level warn >"$tmp/gantry.log" 2>&1 &
pids+=($!)
wait_port "$admin"
tok=$(cat "$tmp/data/admin.token")
api() { curl -sf -X "$1" -H "Authorization: Bearer $tok" -H 'Content-Type: application/json' "http://127.0.0.1:$admin$2" -d "$3" >/dev/null; }
api PUT /v1/lbs/bench '{"ips": ["127.0.0.1"]}'
api PUT /v1/lbs/bench/backends/origin "{\"forward_protocol\": \"http\", \"servers\": [{\"ip\": \"127.0.0.1\", \"port\": $origin}]}"
api PUT /v1/certificates/bench "$(python3 -c 'import json,sys; print(json.dumps({"type": "custom", "certificate_chain": open(sys.argv[1]).read()}))' "$tmp/combined.pem")"
api PUT "/v1/lbs/bench/frontends/tls?wait=applied" "{\"inbound_port\": $gport, \"protocol\": \"https\", \"backend\": \"origin\", \"certificates\": [\"bench\"]}"
wait_port "$origin"
wait_port "$hport"
wait_port "$gport"
for p in "$gport" "$hport"; do
	curl -sf --cacert "$tmp/ca.pem" --resolve "bench.example.com:$p:127.0.0.1" "https://bench.example.com:$p/" | grep -q ok
done

# rate extracts "N req/s" from h2load's summary (0 when it failed).
rate() { grep -o 'finished in [^,]*, [0-9.]* req/s' | awk '{print $(NF-1)}' || echo 0; }
handshakes() { h2load -t 1 -c "$conns" -n "$conns" -m 1 "https://127.0.0.1:$1/" 2>/dev/null | rate; }
h2rps() { h2load -t 1 -c 16 -m 16 -D "$duration" --warm-up-time=1 "https://127.0.0.1:$1/" 2>/dev/null | rate; }

echo "# $(date -u +%FT%TZ) $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg); $(haproxy -v | head -1 | cut -d' ' -f1-3); $(h2load --version | head -1)"
printf '%-6s %-8s %14s %14s\n' round server "handshakes/s" "h2 req/s"
declare -A best_hs best_rps
for r in $(seq 1 "$rounds"); do
	for s in gantry haproxy; do
		port=$gport
		[ "$s" = haproxy ] && port=$hport
		hs=$(handshakes "$port")
		rps=$(h2rps "$port")
		printf '%-6s %-8s %14s %14s\n' "$r" "$s" "$hs" "$rps"
		best_hs[$s]=$(python3 -c "print(max(${best_hs[$s]:-0}, $hs))")
		best_rps[$s]=$(python3 -c "print(max(${best_rps[$s]:-0}, $rps))")
	done
done
python3 - "${best_hs[gantry]}" "${best_hs[haproxy]}" "${best_rps[gantry]}" "${best_rps[haproxy]}" <<'EOF'
import sys
g_hs, h_hs, g_rps, h_rps = map(float, sys.argv[1:])
ratio = lambda a, b: a / b if b else float("nan")
print(f"best of rounds: handshakes/s gantry {g_hs:.0f}, haproxy {h_hs:.0f} (gantry/haproxy {ratio(g_hs, h_hs):.2f}); "
      f"h2 req/s gantry {g_rps:.0f}, haproxy {h_rps:.0f} (gantry/haproxy {ratio(g_rps, h_rps):.2f})")
EOF
