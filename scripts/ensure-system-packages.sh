#!/usr/bin/env bash
# System packages the tests use for real: bubblewrap (the code sandbox) and Chromium
# (browser tests). Installed with apt when missing and when we may; otherwise a warning
# (outside CI) or a failure (CI).
set -uo pipefail
need=()
command -v bwrap >/dev/null 2>&1 || need+=(bubblewrap)
[ -x /usr/bin/chromium ] || need+=(chromium)
[ ${#need[@]} -eq 0 ] && exit 0
echo "== installing system packages: ${need[*]}"
if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
  apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null && exit 0
elif command -v sudo >/dev/null 2>&1; then
  sudo apt-get update -qq >/dev/null && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null && exit 0
fi
if [ "${CI:-}" = "true" ]; then
  echo "FAIL: could not install ${need[*]}" >&2
  exit 1
fi
echo "WARNING: could not install ${need[*]}; the tests that need them will fail." >&2
exit 0
