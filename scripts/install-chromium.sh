#!/usr/bin/env bash
# Makes sure Debian's chromium is at /usr/bin/chromium for the browser test (test/integration/ui.suite.ts), which
# drives it with playwright-core; playwright's own browser download is never used. Idempotent: a present
# chromium is only reported.
set -euo pipefail

CHROMIUM=/usr/bin/chromium

if [ -x "$CHROMIUM" ]; then
  echo "[install-chromium] found $CHROMIUM: $("$CHROMIUM" --version 2>/dev/null || echo 'version unknown')"
  exit 0
fi

if [ "$(id -u)" -eq 0 ]; then
  SUDO=()
elif command -v sudo >/dev/null 2>&1; then
  SUDO=(sudo)
else
  echo "[install-chromium] $CHROMIUM is missing and this is not root, and sudo is not available; install the chromium package yourself" >&2
  exit 1
fi

if ! command -v apt-get >/dev/null 2>&1; then
  echo "[install-chromium] $CHROMIUM is missing and apt-get is not available; install chromium yourself (the browser test skips without it)" >&2
  exit 1
fi

echo "[install-chromium] $CHROMIUM not found; installing the Debian chromium package"
echo "[install-chromium] apt-get update"
${SUDO[@]+"${SUDO[@]}"} apt-get update
echo "[install-chromium] apt-get install -y --no-install-recommends chromium"
${SUDO[@]+"${SUDO[@]}"} env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends chromium

if [ ! -x "$CHROMIUM" ]; then
  echo "[install-chromium] chromium installed but $CHROMIUM is missing" >&2
  exit 1
fi
echo "[install-chromium] installed $CHROMIUM: $("$CHROMIUM" --version 2>/dev/null || echo 'version unknown')"
