#!/usr/bin/env bash
# Installs code-server 4.100.3 (VS Code 1.100.3, Node 20) and playwright-core into e2e/tools, offline except npm.
# Three workarounds (shared/docs/vscode-e2e.md §2): seed @vscode/ripgrep's download cache with Debian's rg,
# npm_config_yes for node-pty's npx node-gyp, --unsafe-perm for code-server's postinstall as root.
set -euo pipefail
cd "$(dirname "$0")"
if [ -x node_modules/.bin/code-server ]; then exit 0; fi
command -v rg >/dev/null || { echo "e2e: ripgrep is missing (apt-get install ripgrep)" >&2; exit 1; }
SEED=$(mktemp -d)
mkdir -p "$SEED/vscode-ripgrep-cache-1.15.11"
tar czf "$SEED/vscode-ripgrep-cache-1.15.11/ripgrep-v13.0.0-10-x86_64-unknown-linux-musl.tar.gz" -C "$(dirname "$(command -v rg)")" rg
if [ -f package-lock.json ]; then cmd=ci; else cmd=install; fi
TMPDIR="$SEED" npm_config_yes=true ONNXRUNTIME_NODE_INSTALL=skip npm "$cmd" --unsafe-perm --no-audit --no-fund
rm -rf "$SEED"
