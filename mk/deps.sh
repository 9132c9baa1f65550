#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# Installs every Debian package that dpmail's build and tests need. Each module lists its own in
# mk/deps.d/<module>.txt (one package a line, # comments), so modules never edit a shared list.
# A quick no-op when everything is present; runs apt-get update only when something is missing.
set -euo pipefail
cd "$(dirname "$0")/.."
mapfile -t want < <(cat mk/deps.d/*.txt | sed 's/#.*//' | tr -s ' \t' '\n' | grep -v '^$' | sort -u)
missing=()
for p in "${want[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" != 0 ]; then
  echo "deps: missing Debian packages (run 'make deps' as root): ${missing[*]}" >&2
  exit 1
fi
echo "deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
# postfix asks questions at install time; answer them so the install is unattended.
echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections 2>/dev/null || true
apt-get update -qq -o DPkg::Lock::Timeout=600
apt-get install -y -qq -o DPkg::Lock::Timeout=600 --no-install-recommends "${missing[@]}" >/dev/null
