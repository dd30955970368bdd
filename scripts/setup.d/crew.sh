#!/usr/bin/env bash
# The crew app: vendor idb (a 12 kB promise wrapper of IndexedDB, for the app's
# outbox) from the npm registry into the API's static files (never a CDN at run
# time). Chromium for its browser tests comes from map.sh. Idempotent; a no-op the
# second time.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT="$PWD"
IDB=8.0.3
VENDOR="$ROOT/mobile_api/crew/static/vendor"
STAMP="$VENDOR/.versions"
WANT="idb@$IDB"

if [ "$(cat "$STAMP" 2>/dev/null)" != "$WANT" ]; then
  echo "==> vendoring $WANT into mobile_api/crew/static/vendor"
  NPM_DIR="$ROOT/.cache/crew-npm"
  mkdir -p "$NPM_DIR"
  npm install --silent --no-audit --no-fund --no-save --prefix "$NPM_DIR" $WANT >/dev/null
  rm -rf "$VENDOR"
  mkdir -p "$VENDOR/idb"
  cp "$NPM_DIR/node_modules/idb/build/index.js" "$VENDOR/idb/index.js"
  cp "$NPM_DIR/node_modules/idb/LICENSE" "$VENDOR/idb/LICENSE"
  echo "$WANT" > "$STAMP"
fi
