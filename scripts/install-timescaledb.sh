#!/usr/bin/env bash
# Build and install the TimescaleDB extension (Apache-licensed part) for the
# local PostgreSQL when the server does not offer it yet.
#
# Debian bookworm ships no timescaledb package, so we fetch Debian trixie's
# *source* package through a private apt configuration under .cache/ (the
# machine's own apt sources are never touched), build it against the local
# PostgreSQL's server headers, install it, preload it and restart the cluster.
# Idempotent: does nothing when the extension is already available.
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
PGPORT="${PGPORT:-5432}"
PGHOST="${PGHOST:-127.0.0.1}"

psql_admin() { psql -h "$PGHOST" -p "$PGPORT" -U postgres -d postgres -Atqc "$1"; }

available() {
  [ "$(psql_admin "SELECT count(*) FROM pg_available_extensions WHERE name = 'timescaledb'" 2>/dev/null || echo 0)" = "1" ]
}
preloaded() {
  psql_admin "SHOW shared_preload_libraries" 2>/dev/null | grep -q timescaledb
}

PGVER="$(psql_admin 'SHOW server_version_num' | cut -c1-2)"
CLUSTER_CONF="/etc/postgresql/${PGVER}/main/postgresql.conf"

restart_cluster() {
  pg_ctlcluster --skip-systemctl-redirect "$PGVER" main restart
  for _ in $(seq 1 60); do psql_admin 'SELECT 1' >/dev/null 2>&1 && return 0; sleep 0.5; done
  echo "PostgreSQL did not come back after restart" >&2; exit 1
}

if ! available; then
  echo "==> building TimescaleDB for PostgreSQL ${PGVER} (one-time, about a minute)"
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -qq "postgresql-server-dev-${PGVER}" cmake gcc make dpkg-dev libssl-dev libkrb5-dev >/dev/null

  APTDIR="$ROOT/.cache/apt-trixie-src"
  mkdir -p "$APTDIR/lists/partial" "$APTDIR/build"
  # Reuse the machine's configured Debian mirror, pointed at trixie sources.
  MIRROR="$(grep -m1 -E '^URIs:' /etc/apt/sources.list.d/debian.sources 2>/dev/null | awk '{print $2}')"
  if [ -z "$MIRROR" ]; then
    MIRROR="$(grep -m1 -E '^deb ' /etc/apt/sources.list | awk '{print $2}')"
  fi
  echo "deb-src [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $MIRROR trixie main" > "$APTDIR/sources.list"
  APTOPTS=(-o "Dir::Etc::sourcelist=$APTDIR/sources.list" -o "Dir::Etc::sourceparts=-"
           -o "Dir::State::Lists=$APTDIR/lists" -o "APT::Get::List-Cleanup=0")
  apt-get "${APTOPTS[@]}" update -qq
  (cd "$APTDIR/build" && rm -rf timescaledb-* && apt-get "${APTOPTS[@]}" source --download-only -qq timescaledb \
     && dpkg-source --no-check -x timescaledb_*.dsc >/dev/null)
  SRC="$(find "$APTDIR/build" -maxdepth 1 -type d -name 'timescaledb-*' | head -1)"
  (cd "$SRC" && ./bootstrap -DREGRESS_CHECKS=OFF -DTAP_CHECKS=OFF -DAPACHE_ONLY=ON \
        -DWARNINGS_AS_ERRORS=OFF -DSEND_TELEMETRY_DEFAULT=OFF -DPG_CONFIG="/usr/lib/postgresql/${PGVER}/bin/pg_config" >/dev/null \
     && make -C build -j"$(nproc)" >/dev/null && make -C build install >/dev/null)
fi

if ! preloaded; then
  echo "==> preloading timescaledb in ${CLUSTER_CONF}"
  echo "shared_preload_libraries = 'timescaledb'" >> "$CLUSTER_CONF"
  echo "timescaledb.telemetry_level = off" >> "$CLUSTER_CONF"
  restart_cluster
fi
available && preloaded && echo "timescaledb ready: $(psql_admin "SELECT default_version FROM pg_available_extensions WHERE name='timescaledb'")"
