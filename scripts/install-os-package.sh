#!/usr/bin/env bash
# Makes sure a Debian package's program is present, installing the package with apt-get when it is missing.
# Idempotent: a present program is only reported. Generic, for any suite that needs an OS program.
#   scripts/install-os-package.sh PROGRAM PACKAGE [PACKAGE ...]
set -euo pipefail

PROGRAM=${1:?usage: install-os-package.sh PROGRAM PACKAGE [PACKAGE ...]}
shift
PACKAGES=("$@")
[ ${#PACKAGES[@]} -gt 0 ] || PACKAGES=("$PROGRAM")
TAG="[install ${PROGRAM}]"

found() {
  command -v "$PROGRAM" 2>/dev/null || { [ -x "$PROGRAM" ] && echo "$PROGRAM"; } || return 1
}

if where=$(found); then
  echo "$TAG found $where"
  exit 0
fi

if [ "$(id -u)" -eq 0 ]; then
  SUDO=()
elif command -v sudo >/dev/null 2>&1; then
  SUDO=(sudo)
else
  echo "$TAG missing, not root, and sudo is not available: install ${PACKAGES[*]} yourself" >&2
  exit 1
fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "$TAG missing and apt-get is not available: install ${PACKAGES[*]} yourself" >&2
  exit 1
fi

echo "$TAG not found; apt-get install ${PACKAGES[*]}"
export DEBIAN_FRONTEND=noninteractive
# Only refresh the package lists when the package is unknown to them (a fresh container has none).
if ! apt-cache show "${PACKAGES[0]}" >/dev/null 2>&1; then
  ${SUDO[@]+"${SUDO[@]}"} apt-get update
fi
${SUDO[@]+"${SUDO[@]}"} apt-get install -y --no-install-recommends "${PACKAGES[@]}"
where=$(found) || { echo "$TAG installed ${PACKAGES[*]} but $PROGRAM is still not found" >&2; exit 1; }
echo "$TAG installed: $where"
