#!/usr/bin/env bash
# The service confirmation sheet: a CJK TrueType font that reportlab embeds as a subset
# (WenQuanYi Micro Hei; reportlab cannot embed the CFF outlines of Noto CJK), and
# poppler-utils (pdftoppm, pdffonts) with which the tests look at the rendered sheet.
# Debian's packages; idempotent, a no-op the second time.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT="$PWD"
FONT=/usr/share/fonts/truetype/wqy/wqy-microhei.ttc
if [ ! -f "$FONT" ] || ! command -v pdftoppm >/dev/null 2>&1; then
  echo "==> installing fonts-wqy-microhei and poppler-utils from Debian's packages (the sheet)"
  if [ ! -f "$ROOT/.cache/apt-updated" ]; then
    apt-get update -qq && mkdir -p "$ROOT/.cache" && touch "$ROOT/.cache/apt-updated"
  fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq fonts-wqy-microhei poppler-utils >/dev/null
fi
