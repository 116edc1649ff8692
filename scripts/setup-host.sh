#!/usr/bin/env bash
# Host preparation for Corral: Debian packages (from the machine's own apt sources), the
# backports suite for gVisor's runsc, and the kernel/cgroup settings sandboxes need.
# Idempotent; run as root. Called by scripts/bootstrap.sh.
set -euo pipefail

say() { printf '\033[1m==> %s\033[0m\n' "$*"; }

PACKAGES=(
  crun            # OCI runtime, the fast driver
  buildah         # template builds (chroot isolation, overlay or vfs storage)
  debootstrap     # offline base root filesystems
  docker-registry # tests: the loopback OCI registry for template pulls (run by the tests)
  skopeo          # tests: copies images into that registry
  nftables        # per-sandbox firewall and NAT
  iproute2        # netns, veth
  xfsprogs        # sandbox disk store: XFS with project quotas (per-sandbox disk limits)
  procps psmisc util-linux
  ca-certificates
  sudo
  python3-venv
  postgresql      # control plane database for clusters (tests run the API on it and on SQLite)
  redis-server    # routing catalog and rate limits shared between processes
)
BACKPORTS_PACKAGES=(runsc)  # gVisor: only bookworm-backports has a recent build

codename=$(. /etc/os-release && echo "${VERSION_CODENAME:-bookworm}")

# The machine's own Debian mirror: the first URI whose suites include the release itself.
debian_uri() {
  local f
  for f in /etc/apt/sources.list.d/*.sources; do
    [ -f "$f" ] || continue
    awk -v rel="$codename" '
      BEGIN { RS=""; FS="\n" }
      {
        uri=""; suites=""; enabled=1
        for (i = 1; i <= NF; i++) {
          if ($i ~ /^URIs:/) { sub(/^URIs:[ \t]*/, "", $i); split($i, u, /[ \t]+/); uri=u[1] }
          if ($i ~ /^Suites:/) { suites=" " $i " " }
          if ($i ~ /^Enabled:[ \t]*no/) { enabled=0 }
        }
        if (enabled && uri != "" && suites ~ (" " rel " ")) { print uri; exit }
      }' "$f"
  done | head -n1
  if [ -f /etc/apt/sources.list ]; then
    awk -v rel="$codename" '$1 == "deb" && $0 !~ /security/ {
        for (i = 2; i <= NF; i++) if ($i !~ /^\[/) { uri = $i; break }
        if ($(i+1) == rel) { print uri; exit } }' /etc/apt/sources.list
  fi
}

backports_list=/etc/apt/sources.list.d/corral-backports.sources
if [ ! -f "$backports_list" ]; then
  uri=$(debian_uri | head -n1)
  if [ -z "$uri" ]; then
    echo "setup-host: found no Debian '$codename' source in /etc/apt to derive backports from" >&2
    exit 1
  fi
  say "adding ${codename}-backports from the machine's mirror ($uri)"
  cat >"$backports_list" <<EOF
Types: deb
URIs: $uri
Suites: ${codename}-backports
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
  rm -f /var/lib/apt/.corral-updated
fi

missing=()
for p in "${PACKAGES[@]}" "${BACKPORTS_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  say "installing Debian packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${PACKAGES[@]}" >/dev/null
  apt-get install -y -qq --no-install-recommends -t "${codename}-backports" \
    "${BACKPORTS_PACKAGES[@]}" >/dev/null
fi

# The tests start docker-registry themselves on loopback: its packaged service (port 5000 on
# every interface) stays off.
if [ -d /run/systemd/system ]; then
  systemctl disable --now docker-registry >/dev/null 2>&1 || true
fi

# crun 1.8 refuses a cgroup v1 "hybrid" host while cgroup2 owns a controller; on this kind of
# host that is hugetlb. Mounting the v1 hugetlb hierarchy takes it away from cgroup2.
if [ -d /sys/fs/cgroup/unified ] && [ ! -d /sys/fs/cgroup/hugetlb ] \
  && grep -qw hugetlb /proc/cgroups; then
  say "mounting the cgroup v1 hugetlb controller (crun on hybrid cgroups)"
  mkdir -p /sys/fs/cgroup/hugetlb
  mount -t cgroup -o hugetlb cgroup /sys/fs/cgroup/hugetlb
fi

# Sandboxes with internet access are NATed through the host.
if [ "$(cat /proc/sys/net/ipv4/ip_forward)" != 1 ]; then
  say "enabling IPv4 forwarding (NAT egress for sandboxes that allow internet)"
  sysctl -qw net.ipv4.ip_forward=1
fi
say "host ready"
