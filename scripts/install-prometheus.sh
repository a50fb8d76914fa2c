#!/usr/bin/env bash
# Makes sure Prometheus (the Debian package `prometheus`) is installed: the cluster suite scrapes the Temporal
# server's and the workers' metrics with it. Idempotent; it installs the binary only and never starts the
# package's own service (policy-rc.d below; the suite runs its own Prometheus on a temporary directory).
set -euo pipefail
cd "$(dirname "$0")"
if ! command -v prometheus >/dev/null 2>&1 && [ "$(id -u)" -eq 0 ] && [ ! -e /usr/sbin/policy-rc.d ]; then
  # No service starts during the install (containers have no init system to start it with anyway).
  printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
  chmod 755 /usr/sbin/policy-rc.d
  trap 'rm -f /usr/sbin/policy-rc.d' EXIT
fi
bash ./install-os-package.sh prometheus prometheus
prometheus --version 2>&1 | head -1
