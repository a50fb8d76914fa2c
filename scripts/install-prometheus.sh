#!/usr/bin/env bash
# Makes sure `promtool` and `prometheus` are on PATH for the monitoring tests (test/unit/monitoring.test.ts:
# `promtool check rules`, `promtool test rules`, and a real Prometheus scraping a real metrics server).
# Installs Debian's `prometheus` package (it carries both binaries) with apt-get. Idempotent: when both are
# present it only reports their versions. The package's service is not needed; in containers policy-rc.d keeps
# it from starting, elsewhere the tests run their own Prometheus on a random port and never use the service.
set -euo pipefail

have_both() { command -v promtool >/dev/null 2>&1 && command -v prometheus >/dev/null 2>&1; }
report() { echo "[install-prometheus] promtool: $(promtool --version 2>&1 | head -n1); prometheus: $(prometheus --version 2>&1 | head -n1)"; }

if have_both; then
  report
  exit 0
fi

if ! command -v apt-get >/dev/null 2>&1; then
  echo "[install-prometheus] promtool/prometheus are missing and apt-get is not available; install Prometheus yourself (the monitoring tests skip without it)" >&2
  exit 1
fi

if [ "$(id -u)" -eq 0 ]; then
  SUDO=()
elif command -v sudo >/dev/null 2>&1; then
  SUDO=(sudo)
else
  echo "[install-prometheus] promtool/prometheus are missing, this is not root and sudo is not available; install the prometheus package yourself" >&2
  exit 1
fi

echo "[install-prometheus] installing the Debian prometheus package"
# The package lists may be absent in a fresh container; an install from stale lists can 404, so refresh them.
echo "[install-prometheus] apt-get update"
${SUDO[@]+"${SUDO[@]}"} apt-get update
echo "[install-prometheus] apt-get install -y --no-install-recommends prometheus"
${SUDO[@]+"${SUDO[@]}"} env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends prometheus

if ! have_both; then
  echo "[install-prometheus] the prometheus package was installed but promtool or prometheus is not on PATH" >&2
  exit 1
fi
report
