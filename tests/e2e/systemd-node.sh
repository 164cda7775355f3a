#!/usr/bin/env bash
# End to end on a node that boots systemd, as a real node does: a fresh copy
# of a cached bookworm tree with systemd, booted by `systemd-nspawn --boot`.
# apt installs containerd and runc (containerd starts as its package's
# service), sid's nydus-snapshotter runs as a service of the admin's
# (tests/e2e/nydus-snapshotter.service), and our .deb is installed with the
# admin's opt-in file present, so that its postinst switches the node. Then
# `nydus-overlayfs-setup disable --restart` and `enable --restart` restart
# both services through systemctl, the package's ordering drop-in must be in
# effect, and a pod runs through CRI with the checks of tests/e2e/run.sh.
# The only place where --restart, the drop-in and the install-time switch
# meet a real systemd. Run by tests/e2e/run.sh as the suite
# "bookworm-systemd" (make test-e2e SUITES=bookworm-systemd), as root.
# Skipped, with the reason, where this machine cannot boot such a node.
# E2E_NOT_SWITCHED=snapshotter puts nydus-snapshotter's config back after
# enable --restart (CRI chooses nydus, but the helper is never called): the
# rootfs checks must then fail. E2E_LOG_DIR=DIR keeps the logs, the node's
# journal and the strace log there; they hold this run's throwaway registry
# password.
set -euo pipefail
BASE_SUITE=bookworm
source "$(dirname "$0")/../lifecycle/lib.sh"
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/flatcar-layout.sh"
# The cached tree: bookworm minbase with systemd as init (made from the
# lifecycle tests' cached chroot, once).
NODE_TAR=$CACHE/bookworm-systemd.tgz

# This process's cgroup in each hierarchy, as directories: cgroup v1
# controllers, v1 name=systemd and cgroup2.
own_cgroups() {
    local id controllers path mountpoint
    while IFS=: read -r id controllers path; do
        if [ -z "$controllers" ]; then
            mountpoint=$(awk '$3 == "cgroup2" {print $2; exit}' /proc/self/mounts)
        else
            mountpoint=$(awk -v c="${controllers%%,*}" '$3 == "cgroup" && ("," $4 ",") ~ ("," c ",") {print $2; exit}' /proc/self/mounts)
        fi
        [ -z "$mountpoint" ] || echo "$mountpoint${path%/}"
    done </proc/self/cgroup
}

if [ -z "${LIFECYCLE_WORK:-}" ]; then
    echo "=== e2e node: Debian bookworm, booted with systemd"
    command -v systemd-nspawn >/dev/null ||
        skip "systemd-nspawn is not installed (Debian's systemd-container; make deps-e2e installs it)"
    [ -c /dev/fuse ] || skip "no /dev/fuse: nydusd in the node needs FUSE"
    awk '$3 == "cgroup" && $4 ~ /(^|,)cpu(,|$)/' /proc/self/mounts | grep -q . ||
        skip "no cgroup v1 cpu controller: this test's node is made for a host with v1 controllers (see docs/development.md)"
    require_e2e_parts
fi
run_isolated "$@"

WORK=$LIFECYCLE_WORK
ROOT=$WORK/root
DEB=$(ls "$REPO"/target/debian/nydus-overlayfs_*.deb)
SNAPSHOTTER_DEB=$(ls "$CACHE"/sid/debs/nydus-snapshotter_*.deb)
# The node's cgroups, one below this process's in each hierarchy, made by
# this test (nspawn puts itself and the node below them) and removed at the
# end: the pods' cgroups (cgroupfs driver, containerd's default, under the
# cgroup parent POD_CGROUP in the node's cgroup namespace) are inside them.
NODE_CGROUP=nydus-e2e-node-$$
mapfile -t NODE_CGROUPS < <(own_cgroups | sed "s|\$|/$NODE_CGROUP|")
POD_CGROUP=/nydus-e2e-pods
NODE_MACHINE=nydus-e2e-$$
# Whether /run/systemd/nspawn, which nspawn makes on the host, was there
# before: if not, it goes at the end.
NSPAWN_RUN_DIR_WAS_THERE=$([ -e /run/systemd/nspawn ] && echo yes || echo no)
STRACE_PID=
NSPAWN_PID=
LEADER=

# The cached tree, made once from the lifecycle tests' bookworm chroot:
# systemd as init, without D-Bus (nothing here needs it, and its daemon
# never finishes starting in this sandbox: it may not raise its open-files
# limit nor watch its config directory, and the boot never reaches running).
ensure_node_tree() {
    [ -e "$NODE_TAR" ] && return 0
    local tree=$WORK/tree
    echo "e2e: building the cached bookworm tree with systemd $NODE_TAR (once)"
    mkdir -p "$tree"
    tar -C "$tree" -xzf "$BASE_TAR"
    mount -t proc proc "$tree/proc"
    chroot "$tree" "${SERVICE_ENV[@]}" apt-get install -q -y --no-install-recommends systemd systemd-sysv \
        >"$WORK/tree.log" 2>&1 </dev/null || { umount "$tree/proc"; tail -n 20 "$WORK/tree.log"; return 1; }
    umount "$tree/proc"
    tar -C "$tree" -czf "$NODE_TAR.tmp" . && mv "$NODE_TAR.tmp" "$NODE_TAR"
    rm -rf "$tree"
}

# A fresh copy of the tree with what the test brings: the two .debs in
# /srv/debs, nydusd and nydus-image in /usr/local, the snapshotter's unit.
make_node() {
    NODE_FS=$ROOT
    mkdir -p "$ROOT"
    tar -C "$ROOT" -xzf "$NODE_TAR"
    cp /etc/resolv.conf "$ROOT/etc/resolv.conf"
    add_hosts_file
    mkdir -p "$ROOT/srv/debs"
    cp "$DEB" "$SNAPSHOTTER_DEB" "$ROOT/srv/debs/"
    install_nydus_tools
    install -m 644 "$E2E/nydus-snapshotter.service" "$ROOT/etc/systemd/system/nydus-snapshotter.service"
}

# Boots the node in the background, in the node's own cgroups; LEADER is its
# systemd (pid 1 inside). No systemd runs this machine: --register=no and
# --keep-unit keep nspawn from asking one for a machine or a scope (so no
# DeviceAllow= applies either: /dev/fuse, bound in, is usable as it is here).
# --system-call-filter=@keyring: runc gives each container a session
# keyring, and nspawn's seccomp filter refuses the keyring calls by default.
boot_node() {
    local cgroup
    (
        for cgroup in "${NODE_CGROUPS[@]}"; do
            mkdir "$cgroup"
            # A v1 cpuset cgroup takes no process until it has CPUs and memory nodes.
            if [ -e "$cgroup/cpuset.cpus" ]; then
                cat "$cgroup/../cpuset.cpus" >"$cgroup/cpuset.cpus"
                cat "$cgroup/../cpuset.mems" >"$cgroup/cpuset.mems"
            fi
            echo "$BASHPID" >"$cgroup/cgroup.procs"
        done
        exec systemd-nspawn --boot --directory="$ROOT" --machine="$NODE_MACHINE" --register=no --keep-unit \
            --bind=/dev/fuse --system-call-filter=@keyring
    ) >"$WORK/boot.log" 2>&1 </dev/null &
    NSPAWN_PID=$!
    wait_for "the node's systemd to start" node_leader_started
    LEADER=$(node_leader)
    NODE_PID_NS=$(readlink "/proc/$LEADER/ns/pid")
    NODE_FS=/proc/$LEADER/root
}

# nspawn mounts the v1 controllers read-only in the node (they are the
# host's), where containerd's runc makes each pod's cgroups: made writable
# in the node's mount namespace only, below the node's own cgroups (its
# cgroup namespace). A real node's are writable.
open_node_cgroups() {
    node sh -c 'for dir in /sys/fs/cgroup/*/; do
        [ "$(stat -fc %T "$dir")" != cgroupfs ] || mount -o remount,bind,rw "$dir" || exit 1
    done'
}

node_leader() {
    cat "/proc/$NSPAWN_PID/task/"*/children 2>/dev/null | awk '{print $1}'
}

node_leader_started() {
    local pid
    pid=$(node_leader)
    [ -n "$pid" ] && [ "$(readlink "/proc/$pid/exe" 2>/dev/null)" = /usr/lib/systemd/systemd ]
}

# node COMMAND...: runs a command in the booted node (all its namespaces,
# hence its root) with a service's environment and no stdin.
node() {
    nsenter --target "$LEADER" --all "${SERVICE_ENV[@]}" "$@" </dev/null
}

# The pids of the processes in the node's pid namespace.
node_processes() {
    [ -n "${NODE_PID_NS:-}" ] || return 0
    local link
    for link in /proc/[0-9]*/ns/pid; do
        [ "$(readlink "$link" 2>/dev/null)" = "$NODE_PID_NS" ] && basename "$(dirname "$(dirname "$link")")"
    done
    return 0
}

# The mountinfo line of a path in the node, from its systemd's view.
node_mountinfo_of() {
    awk -v mp="$1" '$5 == mp' "/proc/$LEADER/mountinfo"
}

# Whether the node's systemd is done starting up (is-system-running --wait
# would need D-Bus, which this node has not).
node_booted() {
    local state
    state=$(node systemctl is-system-running 2>/dev/null || true)
    [ -n "$state" ] && [ "$state" != initializing ] && [ "$state" != starting ]
}

# unit_invocation UNIT: the id of the unit's current run (a restart makes a
# new one).
unit_invocation() {
    node systemctl show -p InvocationID --value "$1"
}

# restarted_since UNIT ID: whether UNIT runs, in another run than ID.
restarted_since() {
    [ "$(node systemctl is-active "$1")" = active ] && [ "$(unit_invocation "$1")" != "$2" ]
}

# setup_restarts ACTION LOG: nydus-overlayfs-setup ACTION --restart, then
# the checks that it restarted both services (each in a new run) and said so.
setup_restarts() {
    local snapshotter containerd
    snapshotter=$(unit_invocation nydus-snapshotter)
    containerd=$(unit_invocation containerd)
    check "nydus-overlayfs-setup $1 --restart" quietly "$2" node nydus-overlayfs-setup "$1" --restart
    sed 's/^/    /' "$2"
    check "it says it restarted both services" grep -qx 'restarted nydus-snapshotter and containerd (where running)' "$2"
    check "systemd restarted nydus-snapshotter" restarted_since nydus-snapshotter "$snapshotter"
    check "and containerd" restarted_since containerd "$containerd"
}

# The node's cgroups, deepest first.
node_cgroups() {
    local cgroup
    for cgroup in "${NODE_CGROUPS[@]}"; do
        [ ! -d "$cgroup" ] || find "$cgroup" -depth -type d
    done
}

node_is_down() {
    stopped "$NSPAWN_PID" && { [ -z "$LEADER" ] || stopped "$LEADER"; }
}

# Powers the node off as systemd does (SIGRTMIN+4 to its pid 1: every service
# stopped, every mount unmounted); SIGKILL to nspawn and the node's pid 1
# (which ends every process in the node) if it is not down 60 s later.
power_off_node() {
    [ -n "$NSPAWN_PID" ] || return 0
    [ -z "$LEADER" ] || kill -RTMIN+4 "$LEADER" 2>/dev/null || true
    local tries=600
    until node_is_down; do
        tries=$((tries - 1))
        if [ "$tries" -le 0 ]; then
            echo "e2e: the node did not power off in 60 s; killing it" >&2
            kill -9 "$NSPAWN_PID" ${LEADER:+"$LEADER"} 2>/dev/null || true
            wait_for "the node to end" node_is_down || true
            break
        fi
        sleep 0.1
    done
    wait "$NSPAWN_PID" 2>/dev/null || true
}

# Keeps the logs if asked (the node's journal with them), removes the pods
# through CRI if a failure left any (systemd's shutdown waits 90 s for a pod's
# pause process, and does not kill it), then stops everything this test
# started, by pid, and removes the node's cgroups and what nspawn made in /run.
teardown() {
    if [ -n "$LEADER" ] && ! stopped "$LEADER"; then
        node journalctl --no-pager -o short-iso >"$WORK/journal.log" 2>&1 || true
        ! cri_answers || cri teardown >/dev/null 2>&1 || true
    fi
    [ -z "${E2E_LOG_DIR:-}" ] || cp "$WORK"/*.log "$WORK/trace" "$E2E_LOG_DIR/" 2>/dev/null || true
    [ -z "$STRACE_PID" ] || stop_by_pid strace "$STRACE_PID"
    STRACE_PID=
    power_off_node
    [ -z "${REGISTRY_PID:-}" ] || stop_by_pid registry "$REGISTRY_PID"
    REGISTRY_PID=
    node_cgroups | xargs -r rmdir 2>/dev/null || true
    # What nspawn leaves in /run when it was killed: its lock on the tree and
    # the directory it propagates mounts into the node through.
    [ ! -d "$ROOT" ] || rm -f "/run/systemd/nspawn/locks/inode-$(stat -c %d:%i "$ROOT")"
    rmdir "/run/systemd/nspawn/propagate/$NODE_MACHINE" 2>/dev/null || true
    [ "$NSPAWN_RUN_DIR_WAS_THERE" = yes ] || find /run/systemd/nspawn -depth -type d -empty -delete 2>/dev/null || true
}

trap teardown EXIT
generate_cri_stubs

step "1. A bookworm tree with systemd, booted by systemd-nspawn"
check "the cached tree with systemd is there (made once)" ensure_node_tree
make_node
boot_node
echo "$(node systemctl --version | head -n 1) is pid 1 of the node (host pid $LEADER); cgroup $(node stat -fc %T /sys/fs/cgroup)"
wait_for "the node to boot" node_booted || true
echo "systemctl is-system-running: $(node systemctl is-system-running || true)"
check "the node's systemd reaches running" test "$(node systemctl is-system-running)" = running
check "with no failed unit" test -z "$(node systemctl --failed --plain --no-legend)"
check "the node's cgroup v1 controllers made writable for runc" open_node_cgroups

step "2. A registry on loopback with the Nydus images: the probe and the pause image"
start_registry
quietly "$WORK/push.log" push_images

step "3. apt installs containerd, runc and sid's nydus-snapshotter in the booted node"
check "apt-get install containerd runc nydus-snapshotter (and strace, for the test)" quietly "$WORK/apt.log" \
    node sh -c 'apt-get install -q -y --no-install-recommends containerd runc strace /srv/debs/nydus-snapshotter_*.deb'
echo "containerd $(node containerd --version | awk '{print $3}'), runc $(node runc --version | awk 'NR == 1 {print $3}')"
check "containerd runs as its package's service" test "$(node systemctl is-active containerd)" = active

step "4. The admin's configs, the snapshotter's service, then our .deb with the opt-in file"
write_admin_configs node
check "systemctl enable --now nydus-snapshotter" quietly "$WORK/snapshotter-unit.log" \
    node systemctl enable --now nydus-snapshotter
check "systemctl restart containerd (the admin's config)" node systemctl restart containerd
mkdir -p "$ROOT/etc/nydus-overlayfs"
: >"$ROOT/etc/nydus-overlayfs/enable-on-install"
check "apt-get install nydus-overlayfs, with /etc/nydus-overlayfs/enable-on-install present" \
    quietly "$WORK/install.log" node sh -c 'apt-get install -q -y --no-install-recommends /srv/debs/nydus-overlayfs_*.deb'
grep '^nydus-overlayfs-setup:' "$WORK/install.log" | sed 's/^/    /'
check "its postinst switched the node (status says switched)" quietly "$WORK/status.log" node nydus-overlayfs-setup status
check "containerd's config.toml was changed" bash -c '! cmp -s "$1" "$2"' - "$WORK/config.before.toml" "$ROOT/etc/containerd/config.toml"
AFTER=$(node systemctl show containerd -p After)
echo "systemctl show containerd -p After: $AFTER"
echo "systemctl show containerd -p DropInPaths: $(node systemctl show containerd -p DropInPaths --value)"
# (/usr/lib on a merged-/usr system, where the package's /lib leads)
check "the package's drop-in is loaded" bash -c 'grep -qE "(^| )(/usr)?/lib/systemd/system/containerd.service.d/nydus-overlayfs.conf( |$)" <<<"$1"' - \
    "$(node systemctl show containerd -p DropInPaths --value)"
check "containerd is ordered after nydus-snapshotter" bash -c 'grep -qw nydus-snapshotter.service <<<"$1"' - "$AFTER"

step "5. --restart: disable and enable again, each restarting both services through systemctl"
setup_restarts disable "$WORK/disable-restart.log"
check "disable put containerd's config.toml back byte for byte" cmp "$WORK/config.before.toml" "$ROOT/etc/containerd/config.toml"
setup_restarts enable "$WORK/enable-restart.log"
check "status says switched" quietly "$WORK/status-again.log" node nydus-overlayfs-setup status
if [ "${E2E_NOT_SWITCHED:-}" = snapshotter ]; then
    echo "E2E_NOT_SWITCHED=snapshotter: nydus-snapshotter's config put back (CRI uses nydus, the helper is not asked)"
    cp "$WORK/nydus-config.before.toml" "$ROOT/etc/nydus/config.toml"
    check "systemctl restart nydus-snapshotter" node systemctl restart nydus-snapshotter
fi
check "containerd's CRI plugin answers" wait_for "CRI" cri_answers

step "6. containerd under strace (attached in the node), then a pod through CRI only"
# In the node, so that the pids strace records are those the traced
# processes see (clone's results are in the node's pid namespace).
CONTAINERD_PID=$(node systemctl show -p MainPID --value containerd)
node strace -f -qq -s 64 -o /srv/trace -e trace=execve,clone,clone3,fork,vfork,write,writev,exit_group \
    -p "$CONTAINERD_PID" &
STRACE_PID=$!
check "strace is attached to containerd" wait_for "strace to attach" \
    node sh -c '! grep -qx "TracerPid:[[:space:]]*0" "/proc/$1/status"' - "$CONTAINERD_PID"
run_probe_pod

step "7. Inside the pod: / is our overlay on nydusd, with dev, suid and exec"
check_probe_pod "$WORK/probe.out"

step "8. Outside: how the helper was called, and that it printed nothing"
cp "$ROOT/srv/trace" "$WORK/trace"
check_helper_calls "$WORK/trace" 2 containerd

step "9. The node laid out as Flatcar runs containerd (config under /usr): switched and back through its unit"
check "CRI stops and removes every container and pod, and removes the images" quietly "$WORK/teardown.log" cri teardown
flatcar_layout

step "10. apt-get remove of the switched node's package, power off"
check "apt-get remove nydus-overlayfs" quietly "$WORK/remove.log" node apt-get remove -q -y nydus-overlayfs
grep '^nydus-overlayfs-setup:' "$WORK/remove.log" | sed 's/^/    /'
check "its prerm restored containerd's config.toml byte for byte" cmp "$WORK/config.before.toml" "$ROOT/etc/containerd/config.toml"
check "and nydus-snapshotter's config.toml" cmp "$WORK/nydus-config.before.toml" "$ROOT/etc/nydus/config.toml"
echo "systemctl show containerd -p After: $(node systemctl show containerd -p After)"
check "its postrm had systemd forget the drop-in" test -z "$(node systemctl show containerd -p DropInPaths --value)"
check "containerd is no longer ordered after nydus-snapshotter" bash -c '! grep -qw nydus-snapshotter.service <<<"$1"' - \
    "$(node systemctl show containerd -p After)"
check "no nydusd is left in the node" bash -c '! pgrep -f /usr/local/libexec/nydusd --ns "$1" --nslist pid >/dev/null' - "$LEADER"
node journalctl --no-pager -o short-iso >"$WORK/journal.log"
for log in boot.log apt.log install.log status.log disable-restart.log enable-restart.log status-again.log pull.log \
    pull-probe.log run.log teardown.log remove.log journal.log flatcar-disable-first.log flatcar-enable.log \
    flatcar-status.log flatcar-teardown.log flatcar-disable.log flatcar-back.log; do
    check_no_credential "$WORK/$log"
done
check_no_credential "$ROOT/var/log/pods"
check "systemctl stop containerd" node systemctl stop containerd
check "strace ended with the containerd it traced" wait_for "strace to end" stopped "$STRACE_PID"
wait "$STRACE_PID" 2>/dev/null || true
STRACE_PID=
power_off_node
check "the node powered off" node_is_down
check "no process is left in the node" test -z "$(node_processes)"
check "nothing is left mounted in the node" test -z "$(awk -v root="$ROOT" 'index($5, root) == 1' /proc/self/mountinfo)"
node_cgroups | xargs -r rmdir
check "the node's cgroups are gone, the pods' with them" test -z "$(node_cgroups)"
echo "end to end on a booted bookworm node in ${SECONDS} s"
finish
