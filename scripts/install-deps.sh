#!/usr/bin/env bash
# Installs what glusterbus needs to build, run and test on Debian: GlusterFS
# server and CLI, D-Bus (daemon and its command-line clients), procps (the
# tests count CLI processes with pgrep), the Prometheus server (a test
# scrapes the daemon with it), Cockpit and Chromium (the Cockpit page's
# browser test), Go where the machine has none, and Go module downloads.
set -euo pipefail
need=()
command -v glusterd >/dev/null || need+=(glusterfs-server)
command -v dbus-daemon >/dev/null || need+=(dbus)
command -v gdbus >/dev/null || need+=(libglib2.0-bin)
command -v busctl >/dev/null || need+=(systemd)
command -v pgrep >/dev/null || need+=(procps)
command -v prometheus >/dev/null || need+=(prometheus)
# The Cockpit page's browser test: cockpit-ws serves the page, its bridge
# reads the bus, headless Chromium shows it (with a font to draw the text).
[ -x /usr/lib/cockpit/cockpit-ws ] || need+=(cockpit-ws)
command -v cockpit-bridge >/dev/null || need+=(cockpit-bridge)
command -v chromium >/dev/null || need+=(chromium)
[ -f /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf ] || need+=(fonts-dejavu-core)
if [ ${#need[@]} -gt 0 ]; then
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	apt-get install -y -qq "${need[@]}" >/dev/null
fi
export PATH=$PATH:/usr/local/go/bin
# Go: the machine's own, else Debian's, which fetches the release go.mod
# names through the module proxy (GOTOOLCHAIN=auto; Go 1.21 and later).
if ! command -v go >/dev/null; then
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq
	apt-get install -y -qq golang-go >/dev/null
fi
if ! go version >/dev/null 2>&1 || [ "$(go env GOTOOLCHAIN 2>/dev/null)" = "" ]; then
	echo "install-deps: Go 1.21 or later is needed (found: $(go version 2>&1)); install it from go.dev/dl under /usr/local/go" >&2
	exit 1
fi
cd "$(dirname "$0")/.." && go mod download
