#!/usr/bin/env bash
# Installs every Debian 12 package Revive needs to build, test and demo. Idempotent; run as root.
set -euo pipefail
packages=(
  build-essential cmake ninja-build ccache pkg-config git clang-format clang-tidy
  libyaml-cpp-dev libyaml-dev nlohmann-json3-dev libcli11-dev libfmt-dev libspdlog-dev libsqlite3-dev libssl-dev
  libgtest-dev libgmock-dev libbenchmark-dev coinor-libcbc-dev libcpp-httplib-dev
  python3 python3-yaml python3-jsonschema
  # The libFuzzer targets (fuzz/, preset fuzz): clang with its fuzzer and sanitizer runtimes.
  clang-14 libclang-rt-14-dev
  # The lab (src/lab/lab.h, revive demo): ipmi_sim BMCs (openipmi) driven by ipmitool, network namespaces and a
  # bridge (iproute2), libvirtd and virtlogd (libvirt-daemon: the test driver; -driver-qemu: session hosts),
  # real TCG guests (qemu-system-x86), setpriv for the session daemons' uid (util-linux).
  openipmi ipmitool fence-agents iproute2 procps
  libvirt-dev libvirt-daemon libvirt-daemon-driver-qemu libvirt-clients libxml2-dev qemu-system-x86 util-linux
  # Observability: promtool (checks /metrics) and a real prometheus that scrapes revived in a test
  # (package prometheus); wrk for the API load benchmark (bench/api_load.sh).
  prometheus wrk
  # Storage (src/drivers/tgt, the lab's arrays): the userspace iSCSI target tgtd and tgtadm (tgt), initiator-side
  # checks iscsi-ls/iscsi-inq (libiscsi-bin), QEMU's iSCSI block driver for guests' disks (qemu-block-extra).
  tgt libiscsi-bin qemu-block-extra
)
missing=()
for package in "${packages[@]}"; do
  # No pipe into `grep -q` here: under pipefail an early exit of grep could fail dpkg-query with SIGPIPE.
  status=$(dpkg-query -W -f='${Status}' "$package" 2>/dev/null || true)
  [[ $status == *"install ok installed"* ]] || missing+=("$package")
done
if [ ${#missing[@]} -gt 0 ]; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
