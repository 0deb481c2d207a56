#!/usr/bin/env bash
# Installs headless Chromium and ChromeDriver (Debian's `chromium` and `chromium-driver`) for the
# dashboard's browser test (`streamflow/tests/observability_browser.rs`). Does nothing when both
# are already there. Needs root (CI runs as root) or sudo.
set -euo pipefail
if command -v chromium >/dev/null 2>&1 && command -v chromedriver >/dev/null 2>&1; then
  echo "install-chromium: $(chromium --version 2>/dev/null | head -1), $(chromedriver --version | head -1)"
  exit 0
fi
sudo=""
if [ "$(id -u)" != 0 ]; then sudo="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends chromium chromium-driver fonts-dejavu-core >/dev/null
echo "install-chromium: $(chromium --version 2>/dev/null | head -1), $(chromedriver --version | head -1)"
