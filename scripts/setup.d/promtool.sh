#!/usr/bin/env bash
# promtool from Debian's prometheus package, for the check of deploy/prometheus/ in
# tests/foundation/test_metrics_config.py. The package is unpacked into .cache/prometheus,
# not installed: no Prometheus server is started or enabled on the machine. Idempotent; if
# the package cannot be had the test checks the files' structure instead.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT="$PWD"
DEST="$ROOT/.cache/prometheus"
if [ -x "$DEST/usr/bin/promtool" ] || command -v promtool >/dev/null 2>&1; then
  exit 0
fi
echo "==> unpacking promtool from Debian's prometheus package into .cache/prometheus"
if [ ! -f "$ROOT/.cache/apt-updated" ]; then
  apt-get update -qq && mkdir -p "$ROOT/.cache" && touch "$ROOT/.cache/apt-updated"
fi
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
if (cd "$WORK" && apt-get download -qq prometheus >/dev/null 2>&1); then
  dpkg-deb -x "$WORK"/prometheus_*.deb "$WORK/root"
  mkdir -p "$DEST/usr/bin"
  cp "$WORK/root/usr/bin/promtool" "$DEST/usr/bin/promtool"
else
  echo "    prometheus package unavailable; the test checks the YAML structurally"
fi
