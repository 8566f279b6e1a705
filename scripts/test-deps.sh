#!/usr/bin/env bash
# Installs what gantry's tests need, only when it is missing, so a fresh
# machine and CI behave alike. Debian packages by name; Go tools pinned.
set -euo pipefail

need_pkgs=()
# command -> Debian package
declare -A pkgs=([curl]=curl)
for cmd in "${!pkgs[@]}"; do
  command -v "$cmd" >/dev/null 2>&1 || need_pkgs+=("${pkgs[$cmd]}")
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
go mod download
