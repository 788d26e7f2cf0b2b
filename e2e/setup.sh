#!/usr/bin/env bash
# First step of `npm test`: makes sure the end-to-end tools are there (shared/docs/vscode-e2e.md §1-2).
#   - Debian's Chromium (Playwright drives it), plus, only while code-server is not yet installed, ripgrep and
#     libkrb5-dev (e2e/tools/install.sh needs them);
#   - code-server 4.100.3 + playwright-core in e2e/tools/node_modules (e2e/tools/install.sh, npm registry only).
# As root with apt-get it installs what is missing. Otherwise it says what to install and goes on: the
# end-to-end tests then report themselves as skipped (NOT RUN). With CI=true a missing tool is an error.
# SUBNET_SEARCH_E2E_NO_APT=1 behaves as if apt-get were unavailable (to try the message as root).
# Also, as root, the Vulkan loader (libvulkan1): with Chromium's SwiftShader driver it is the software WebGPU
# adapter of test/integration/webgpu.test.ts, which skips itself without it (and fails under CI=true).
set -euo pipefail
cd "$(dirname "$0")/.."
PKGS="chromium libkrb5-dev ripgrep"
TOOLS=e2e/tools/node_modules
CHROMIUM=${CHROMIUM:-/usr/bin/chromium}

tools_ok() { [ -x "$TOOLS/.bin/code-server" ] && [ -f "$TOOLS/playwright-core/package.json" ]; }
missing_pkgs() {
  local m=()
  [ -x "$CHROMIUM" ] || m+=(chromium)
  if ! tools_ok; then
    [ -f /usr/include/gssapi/gssapi.h ] || m+=(libkrb5-dev)
    command -v rg >/dev/null || m+=(ripgrep)
  fi
  echo "${m[*]:-}"
}

has_vulkan() { { ldconfig -p || /sbin/ldconfig -p; } 2>/dev/null | grep -q 'libvulkan\.so\.1 '; }
if ! has_vulkan && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null && [ -z "${SUBNET_SEARCH_E2E_NO_APT:-}" ]; then
  echo "setup: apt-get install libvulkan1 (the Vulkan loader, for the WebGPU tests)"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libvulkan1 >/dev/null 2>&1 ||
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libvulkan1 >/dev/null; }
fi

missing=$(missing_pkgs)
if [ -z "$missing" ] && tools_ok; then exit 0; fi

why=
if [ -n "$missing" ]; then
  if [ "$(id -u)" != 0 ]; then why="not root"
  elif ! command -v apt-get >/dev/null || [ -n "${SUBNET_SEARCH_E2E_NO_APT:-}" ]; then why="no apt-get"
  else
    echo "e2e setup: apt-get install $missing (Debian packages for the end-to-end tests)"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    # shellcheck disable=SC2086
    apt-get install -y -qq $missing >/dev/null
    missing=$(missing_pkgs)
    why="still missing after apt-get install"
  fi
fi
if [ -z "$missing" ] && ! tools_ok; then
  echo "e2e setup: installing code-server 4.100.3 and playwright-core into $TOOLS (e2e/tools/install.sh)"
  e2e/tools/install.sh
fi
if [ -z "$missing" ] && tools_ok; then exit 0; fi

{
  echo "================================================================================"
  echo "e2e setup: the end-to-end tests (a real VS Code in Chromium) cannot run here."
  echo "  Missing Debian packages: ${missing} (${why}: cannot install them)"
  echo "  To run them: sudo apt-get install ${PKGS} && e2e/tools/install.sh"
  echo "  (or run \`npm test\` as root on Debian: it installs them itself)."
  echo "The end-to-end tests will be reported as skipped: NOT RUN."
  echo "================================================================================"
} >&2
if [ "${CI:-}" = true ] || [ "${CI:-}" = 1 ]; then
  echo "e2e setup: CI=${CI}: refusing to skip the end-to-end tests." >&2
  exit 1
fi
exit 0
