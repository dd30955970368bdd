#!/usr/bin/env bash
# The dispatcher's map: vendor Leaflet and its cluster plugin from the npm
# registry into the API's static files (never a CDN at run time), and install
# Debian's Chromium for the browser tests. Idempotent; a no-op the second time.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT="$PWD"
LEAFLET=1.9.4
CLUSTER=1.5.3
VENDOR="$ROOT/mobile_api/map/static/vendor"
STAMP="$VENDOR/.versions"
WANT="leaflet@$LEAFLET leaflet.markercluster@$CLUSTER"

if [ "$(cat "$STAMP" 2>/dev/null)" != "$WANT" ]; then
  echo "==> vendoring $WANT into mobile_api/map/static/vendor"
  NPM_DIR="$ROOT/.cache/map-npm"
  mkdir -p "$NPM_DIR"
  npm install --silent --no-audit --no-fund --no-save --prefix "$NPM_DIR" $WANT >/dev/null
  rm -rf "$VENDOR"
  mkdir -p "$VENDOR/leaflet" "$VENDOR/markercluster"
  cp -r "$NPM_DIR/node_modules/leaflet/dist/." "$VENDOR/leaflet/"
  cp "$NPM_DIR/node_modules/leaflet.markercluster/dist/"{leaflet.markercluster.js,MarkerCluster.css,MarkerCluster.Default.css} \
    "$VENDOR/markercluster/"
  echo "$WANT" > "$STAMP"
fi

if ! command -v chromium >/dev/null 2>&1; then
  echo "==> installing Chromium from Debian's packages (browser tests)"
  if [ ! -f "$ROOT/.cache/apt-updated" ]; then
    apt-get update -qq && mkdir -p "$ROOT/.cache" && touch "$ROOT/.cache/apt-updated"
  fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
fi
