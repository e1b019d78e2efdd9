#!/usr/bin/env bash
# The README's first command: installs what is needed, builds what the demo needs (release) and runs
# `revive demo`, Revive's main job on a real lab on this machine (libvirt daemons, real QEMU guests, ipmi_sim
# BMCs, agents): a host crashes and its VMs run again elsewhere, a host's guests live-migrate for maintenance.
# Then, briefly, the same planner and executor at scale on the simulated example cloud. Needs root (Debian 12).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "$(id -u)" -ne 0 ]; then
  echo "scripts/demo.sh: run it as root (the lab uses network namespaces and libvirt daemons)" >&2
  exit 1
fi
scripts/install-deps.sh
scripts/build.sh release revive revived revive-agent
revive=build/release/revive

echo "== revive demo: a real lab on this machine"
"$revive" demo

# The simulated recovery: the real planner and executor against the deterministic simulated cloud, on a
# virtual clock, two hosts of the example cloud crashing at once (all four strategies compared).
inventory=examples/demo-cloud.yaml
scenario=examples/demo-scenario.yaml
out=build/demo
mkdir -p "$out"
echo
echo "== and at scale, simulated: two hosts of $inventory crash at once ($scenario)"
"$revive" inventory validate "$inventory"
status=0
"$revive" simulate --inventory "$inventory" --scenario "$scenario" --compare --format table --out "$out" || status=$?
if [ "$status" -ne 0 ] && [ "$status" -ne 3 ]; then exit "$status"; fi
echo
echo "Gantt chart of the simulated run: $out/timeline.svg (every step: $out/timeline.json)"
