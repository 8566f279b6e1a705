#!/usr/bin/env bash
# Installs what gantry's tests need, only when it is missing, so a fresh
# machine and CI behave alike. Debian packages by name; Go tools pinned.
set -euo pipefail

need_pkgs=()
have() { command -v "$1" >/dev/null 2>&1 || [[ -x "$1" ]]; }
# command (or absolute path) -> Debian package
declare -A pkgs=(
  [curl]=curl
  [mariadbd]=mariadb-server                          # mysql health checks
  [/usr/lib/postgresql/15/bin/postgres]=postgresql   # pgsql health checks
  [redis-server]=redis-server                        # redis health checks
  [/usr/sbin/slapd]=slapd                            # ldap health checks
  [ldapsearch]=ldap-utils
  [h2load]=nghttp2-client                            # TLS and h2 benchmarks
  [testssl]=testssl.sh                               # TLS conformance
  [etcd]=etcd-server                                 # the etcd store (internal/store/etcd)
  [unshare]=util-linux                               # two nodes on one machine (cmd/gantry)
  [nsenter]=util-linux
  [ip]=iproute2
)
for cmd in "${!pkgs[@]}"; do
  have "$cmd" || need_pkgs+=("${pkgs[$cmd]}")
done
if ((${#need_pkgs[@]})); then
  if [[ $EUID -ne 0 ]]; then
    echo "test-deps: missing ${need_pkgs[*]}; install them (apt-get install ${need_pkgs[*]})" >&2
    exit 1
  fi
  echo "test-deps: apt-get install ${need_pkgs[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need_pkgs[@]}" >/dev/null
fi

# Go tools, pinned, into $(go env GOPATH)/bin (the Makefile puts it on PATH).
gobin="$(go env GOPATH)/bin"
declare -A tools=(
  [pebble]=github.com/letsencrypt/pebble/v2/cmd/pebble@v2.10.0
  [pebble-challtestsrv]=github.com/letsencrypt/pebble/v2/cmd/pebble-challtestsrv@v2.10.0
  [h2spec]=github.com/summerwind/h2spec/cmd/h2spec@v2.2.1+incompatible
)
for t in "${!tools[@]}"; do
  if [[ ! -x "$gobin/$t" ]]; then
    echo "test-deps: go install ${tools[$t]}"
    GOFLAGS= go install "${tools[$t]}"
  fi
done
go mod download
