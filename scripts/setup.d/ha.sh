#!/usr/bin/env bash
# PostgreSQL high availability (deploy/ha/, `gridcrew ha up`, the failover tests):
# Patroni and etcd from Debian's packages. Idempotent; a no-op the second time.
# Debian's patroni brings its etcd client (python3-etcd); the packages' own services are
# not started here (no systemd): `gridcrew ha up` runs the processes itself.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT="$PWD"

if ! command -v patroni >/dev/null 2>&1 || ! command -v etcd >/dev/null 2>&1; then
  echo "==> installing Patroni and etcd from Debian's packages (PostgreSQL HA)"
  if [ ! -f "$ROOT/.cache/apt-updated" ]; then
    apt-get update -qq && mkdir -p "$ROOT/.cache" && touch "$ROOT/.cache/apt-updated"
  fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq patroni etcd-server etcd-client >/dev/null
fi
