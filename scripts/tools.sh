#!/usr/bin/env bash
# System tools the test suite uses beyond Python packages, installed from Debian's
# packages when missing and when this is a Debian machine we may change (root + apt).
#   docker-compose: `docker compose config` / `docker-compose config` checks compose/ files
#   chromium: the approver page's browser test (Playwright drives /usr/bin/chromium)
#   fonts-ipafont-gothic: Japanese glyphs in that test's screenshots
#   prometheus: `promtool check metrics` on every process's /metrics (the e2e test), and
#     `promtool check config|rules` and `promtool test rules` on compose/prometheus/
#   prometheus-alertmanager: `amtool check-config` on compose/alertmanager/
#   poppler-utils: the certificate test renders the PDF with pdftoppm (and reads its text
#     with pdftotext)
set -euo pipefail

have_compose() { docker compose version >/dev/null 2>&1 || command -v docker-compose >/dev/null; }

missing=()
have_compose || missing+=(docker-compose)
command -v chromium >/dev/null || missing+=(chromium)
fc-list 2>/dev/null | grep -qi ipag || missing+=(fonts-ipafont-gothic)
command -v promtool >/dev/null || missing+=(prometheus)
command -v amtool >/dev/null || missing+=(prometheus-alertmanager)
command -v pdftoppm >/dev/null || missing+=(poppler-utils)

[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null; then
  echo "tools: installing ${missing[*]}"
  apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
else
  echo "tools: missing ${missing[*]}; install them (Debian: apt-get install ${missing[*]})" >&2
  exit 1
fi
