#!/usr/bin/env bash
# Installs everything the test suite needs (Debian packages, the project and its test extras)
# and runs the whole suite. This is the README's test command; .ci/run calls it unchanged.
set -euo pipefail
cd "$(dirname "$0")/.."

apt_needed=()
command -v ffmpeg >/dev/null 2>&1 || apt_needed+=(ffmpeg)
# The web page tests drive Debian's Chromium through Playwright; no browser is ever downloaded.
[ -x /usr/bin/chromium ] || apt_needed+=(chromium)
if [ "${#apt_needed[@]}" -gt 0 ]; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${apt_needed[@]}" >/dev/null
fi

pip=(python3 -m pip install -q --disable-pip-version-check)
# The CPU build of torch first, so the stems extra does not pull a multi-GB CUDA build.
python3 -c 'import torch' 2>/dev/null || "${pip[@]}" 'torch==2.13.0' \
    || "${pip[@]}" --index-url https://download.pytorch.org/whl/cpu 'torch>=2.3'
"${pip[@]}" -e '.[test,stems,distributed]'
python3 -m ruff check src tests benchmarks
# The whole suite (tests/: unit, integration, services; CI=true turns a missing service into a failure).
# pytest exits 5 when no test ran: set -e lets that fail the run instead of hiding it.
if [ "$#" -eq 0 ]; then set -- tests; fi
python3 -m pytest "$@"
