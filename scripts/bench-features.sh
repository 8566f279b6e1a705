#!/usr/bin/env bash
# Runs gantry for ../shared/bench/run.sh with the traffic features of issue 5
# on: a cookie-sticky backend, three ACLs evaluated on every request (none
# matches the benchmark's requests) and an active HTTP health check. run.sh
# sets LISTEN (ip:port) and BACKENDS (ip:port,ip:port).
#
#   ../shared/bench/run.sh --extra-name gantry-features \
#       --extra './scripts/bench-features.sh'
set -euo pipefail
: "${LISTEN:?} ${BACKENDS:?}"
cfg="$(mktemp --suffix=.yaml)"
trap 'rm -f "$cfg"' EXIT
{
  echo "lbs:"
  echo "- name: bench"
  echo "  ips: [\"${LISTEN%:*}\"]"
  echo "  backends:"
  echo "  - name: b"
  echo "    forward_protocol: http"
  echo "    sticky_sessions: cookie"
  echo "    sticky_sessions_cookie_name: SRV"
  echo "    health_check: {check_delay: 2000, http_config: {uri: /}}"
  echo "    servers:"
  IFS=, read -ra bs <<<"$BACKENDS"
  for b in "${bs[@]}"; do
    echo "    - {ip: \"${b%:*}\", port: ${b##*:}}"
  done
  echo "  frontends:"
  echo "  - name: f"
  echo "    inbound_port: ${LISTEN##*:}"
  echo "    backend: b"
  echo "    acls:"
  echo "    - {name: no-admin, index: 0, match: {http_filter: path_begin, http_filter_value: [/admin]}, action: {type: deny}}"
  echo "    - {name: blocked, index: 1, match: {ip_subnet: [10.0.0.0/8, 192.0.2.0/24]}, action: {type: deny}}"
  echo "    - {name: moved, index: 2, match: {http_filter: path_begin, http_filter_value: [/old]}, action: {type: redirect, redirect: {type: location, target: 'https://example.com/new', code: 301}}}"
} >"$cfg"
# exec would lose the trap; gantry stays in the foreground and exits on TERM.
"$(dirname "$0")/../bin/gantry" run -f "$cfg" --log-level warn &
pid=$!
trap 'kill -TERM $pid 2>/dev/null; wait $pid; rm -f "$cfg"' EXIT TERM INT
wait $pid
