#!/usr/bin/env bash
# End to end as Kubernetes runs it: pods from a Nydus image, pulled and
# started through containerd's CRI (tests/e2e/cri.py, as kubelet would), on a
# node that is a fresh chroot of a Debian suite in a private mount namespace:
# that suite's containerd and runc, its `containerd config default`, sid's
# nydus-snapshotter and the installed .deb's helper, switched by
# `nydus-overlayfs-setup enable`. Nothing names the snapshotter: the CRI plugin
# chooses it from the config enable wrote. The registry listens on 127.0.0.1;
# nothing else is reached. Run by `make test-e2e` as root after `make
# package` (`make deps-e2e` fetches and builds the parts).
# SUITES="bookworm trixie sid sid-k3s bookworm-systemd" (the default) picks
# the nodes; sid's run also starts a storm of E2E_STORM pods at once (10; 0
# for none); sid-k3s is the sid node laid out as k3s lays out its containerd
# (below); bookworm-systemd is tests/e2e/systemd-node.sh, a bookworm node
# that boots systemd.
# E2E_NOT_SWITCHED=1 skips enable (PullImage must then fail: containerd's
# default overlayfs snapshotter cannot unpack a Nydus layer);
# E2E_NOT_SWITCHED=snapshotter undoes enable's change to nydus-snapshotter's
# config only (CRI chooses nydus, but the helper is never called): the
# rootfs checks must then fail.
# E2E_LOG_DIR=DIR keeps every daemon's log and the strace log there; they
# hold this run's throwaway registry password.
set -euo pipefail
if [ -z "${E2E_SUITE:-}" ]; then
    status=0
    for suite in ${SUITES:-bookworm trixie sid sid-k3s bookworm-systemd}; do
        case $suite in
        bookworm-systemd) bash "$(dirname "$0")/systemd-node.sh" || status=1 ;;
        *) E2E_SUITE=$suite bash "$0" "$@" || status=1 ;;
        esac
    done
    exit "$status"
fi
BASE_SUITE=${E2E_SUITE%-k3s}
# The file containerd reads. sid-k3s: k3s's generated config, which k3s
# writes at every start with an import of config-v3.toml.d/*.toml and starts
# containerd with (-c); made here from containerd's own default with k3s's
# header and import line, as k3s's v3 base template has them. enable must
# leave that file alone and switch the node in the imported directory.
CONFIG=/etc/containerd/config.toml
if [ "$E2E_SUITE" != "$BASE_SUITE" ]; then
    CONFIG=/var/lib/rancher/k3s/agent/etc/containerd/config.toml
fi
source "$(dirname "$0")/../lifecycle/lib.sh"
source "$(dirname "$0")/lib.sh"
require_e2e_parts
[ -n "${LIFECYCLE_WORK:-}" ] || echo "=== e2e node: Debian $E2E_SUITE"
run_isolated "$@"

WORK=$LIFECYCLE_WORK
DEB=$(ls "$REPO"/target/debian/nydus-overlayfs_*.deb)
SNAPSHOTTER_DEB=$(ls "$CACHE"/sid/debs/nydus-snapshotter_*.deb)
STORM=${E2E_STORM:-10}
[ "$E2E_SUITE" = sid ] || STORM=0
# The cgroup parent of this run's pods (cgroupfs driver, containerd's
# default), removed at the end.
POD_CGROUP=/nydus-e2e-$E2E_SUITE-$$
# The processes this test starts, by name, for the teardown.
declare -A STARTED=()

# A node: a fresh copy of the suite's cached chroot with what containers
# need mounted.
# The chroot is made a mount point of its own, as runc's pivot_root needs.
make_node() {
    new_chroot
    NODE_FS=$ROOT
    mount --rbind "$ROOT" "$ROOT"
    mount --rbind /dev "$ROOT/dev"
    mount --rbind /sys "$ROOT/sys"
    mount -t tmpfs -o mode=755 tmpfs "$ROOT/run"
    add_hosts_file
}

# Stops what this test started, by pid, in reverse order of need: containerd
# (strace then ends with it), then the snapshotter, which stops its nydusd.
# SIGTERM, and SIGKILL for what has not ended 30 s later.
stop_started() {
    local name pid
    for name in containerd strace snapshotter registry; do
        pid=${STARTED[$name]:-}
        [ -n "$pid" ] || continue
        stop_by_pid "$name" "$pid"
        unset "STARTED[$name]"
    done
}

# On any exit: stop what is still running, then whatever is left inside the
# node (a shim, a nydusd), by pid too.
teardown() {
    local pid
    [ -z "${E2E_LOG_DIR:-}" ] || cp "$WORK"/*.log "$WORK/trace" "$E2E_LOG_DIR/" 2>/dev/null || true
    stop_started
    for pid in $(node_processes); do
        echo "e2e: still running in the node: $(tr '\0' ' ' </proc/"$pid"/cmdline | cut -c1-60); killing it" >&2
        kill -9 "$pid" 2>/dev/null || true
    done
    for pid in $(pod_processes); do
        echo "e2e: still running in a pod: $(tr '\0' ' ' </proc/"$pid"/cmdline | cut -c1-60); killing it" >&2
        kill -9 "$pid" 2>/dev/null || true
    done
    for pid in $(node_processes); do
        wait_for "process $pid to end" stopped "$pid" || true
    done
    wait_for "the pods' processes to end" pods_empty || true
    remove_cgroups_made all
}

# The cgroups of this run's pods: the parent in each hierarchy (cgroupfs
# driver), which runc leaves behind once the containers in it are gone.
pod_cgroups() {
    find /sys/fs/cgroup -mindepth 1 -maxdepth 2 -type d -name "${POD_CGROUP#/}" | sort
}

# The pids in them.
pod_processes() {
    local cgroup
    for cgroup in $(pod_cgroups); do
        find "$cgroup" -name cgroup.procs -exec cat {} + 2>/dev/null
    done | sort -u
}

pods_empty() {
    test -z "$(pod_processes)"
}

# Removes them: only when empty unless told to remove what is inside too
# (the teardown after a failure).
remove_cgroups_made() {
    if [ "${1:-}" = all ]; then
        local cgroup
        for cgroup in $(pod_cgroups); do
            find "$cgroup" -depth -type d -exec rmdir {} + 2>/dev/null || true
        done
    else
        pod_cgroups | xargs -r rmdir 2>/dev/null || true
    fi
}

# The pids of processes whose root is the node.
node_processes() {
    local link
    for link in /proc/[0-9]*/root; do
        [ "$(readlink "$link" 2>/dev/null)" = "$ROOT" ] && basename "$(dirname "$link")"
    done
    return 0
}

node_mountinfo_of() {
    mountinfo_of "$1"
}

generate_cri_stubs
trap teardown EXIT

step "1. A $E2E_SUITE node: its containerd and runc, sid's nydus-snapshotter and our .deb, installed by apt"
make_node
mkdir -p "$ROOT/srv/debs"
cp "$DEB" "$SNAPSHOTTER_DEB" "$ROOT/srv/debs/"
check "apt-get install containerd, runc, nydus-snapshotter and nydus-overlayfs" quietly "$WORK/apt.log" \
    in_chroot sh -c 'apt-get install -q -y --no-install-recommends containerd runc /srv/debs/*.deb'
echo "containerd $(in_chroot containerd --version | awk '{print $3}'), runc $(in_chroot runc --version | awk 'NR == 1 {print $3}')"
install_nydus_tools

step "2. A registry on loopback with the Nydus images: the probe and the pause image"
start_registry
STARTED[registry]=$REGISTRY_PID
quietly "$WORK/push.log" push_images

step "3. The admin's configs: containerd's own default, the sandbox's pause image, then enable"
write_admin_configs in_chroot
if [ "$CONFIG" != /etc/containerd/config.toml ]; then
    mkdir -p "$(dirname "$ROOT$CONFIG")"
    {
        echo "# File generated by k3s. DO NOT EDIT. Use config-v3.toml.tmpl instead."
        sed -e '/^imports = /d' \
            -e "/^version = /a imports = [\"$(dirname "$CONFIG")/config-v3.toml.d/*.toml\"]" "$ROOT/etc/containerd/config.toml"
    } >"$ROOT$CONFIG"
    rm "$ROOT/etc/containerd/config.toml"
    cp "$ROOT$CONFIG" "$WORK/config.before.toml"
    echo "containerd reads $CONFIG, as k3s generates it:"
    head -3 "$ROOT$CONFIG" | sed 's/^/    /'
fi
if [ "${E2E_NOT_SWITCHED:-}" = 1 ]; then
    echo "E2E_NOT_SWITCHED=1: enable is not run; the node is containerd's default"
    : >"$WORK/enable.log"
    : >"$WORK/status.log"
else
    check "the admin command switches the node" quietly "$WORK/enable.log" in_chroot nydus-overlayfs-setup enable
    check "status says switched" quietly "$WORK/status.log" in_chroot nydus-overlayfs-setup status
    if [ "$CONFIG" != /etc/containerd/config.toml ]; then
        check "status names the flavor k3s" grep -qx 'flavor.name: k3s' "$WORK/status.log"
        check "enable left k3s's generated file alone" cmp "$WORK/config.before.toml" "$ROOT$CONFIG"
        check "and switched it in the directory that file imports" \
            grep -qx "switched $(dirname "$CONFIG")/config-v3.toml.d/nydus-overlayfs.toml" "$WORK/enable.log"
        check "no /etc/containerd/config.toml was made" test ! -e "$ROOT/etc/containerd/config.toml"
    fi
    if [ "${E2E_NOT_SWITCHED:-}" = snapshotter ]; then
        echo "E2E_NOT_SWITCHED=snapshotter: nydus-snapshotter's config put back (CRI uses nydus, the helper is not asked)"
        cp "$WORK/nydus-config.before.toml" "$ROOT/etc/nydus/config.toml"
    fi
fi

step "4. nydus-snapshotter, nydusd and containerd (under strace) with those configs"
# chroot, not in_chroot: the daemons' own pids are what gets stopped.
chroot "$ROOT" "${SERVICE_ENV[@]}" containerd-nydus-grpc --config /etc/nydus/config.toml --log-to-stdout \
    >"$WORK/snapshotter.log" 2>&1 </dev/null &
STARTED[snapshotter]=$!
check "nydus-snapshotter listens" wait_for "nydus-snapshotter" test -S "$ROOT$SNAPSHOTTER_SOCKET"
# Every program containerd and its shims run, what the helper writes and how
# it exits.
strace -f -qq -s 64 -o "$WORK/trace" -e trace=execve,clone,clone3,fork,vfork,write,writev,exit_group \
    chroot "$ROOT" "${SERVICE_ENV[@]}" containerd --config "$CONFIG" --log-level debug \
    >"$WORK/containerd.log" 2>&1 </dev/null &
STARTED[strace]=$!
check "containerd listens" wait_for containerd test -S "$ROOT$CONTAINERD_SOCKET"
STARTED[containerd]=$(cat /proc/"${STARTED[strace]}"/task/*/children | awk '{print $1}')
check "its CRI plugin answers" wait_for "CRI" cri_answers

step "5. Through CRI only: pull with the credentials in AuthConfig, run a pod, read its log"
run_probe_pod

step "6. Inside the pod: / is our overlay on nydusd, with dev, suid and exec"
check_probe_pod "$WORK/probe.out"

step "7. A repeated call for the same target, as the shim makes when it loses the exit status"
in_chroot ctr -n k8s.io snapshots --snapshotter nydus mounts /srv/again "$CONTAINER" >"$WORK/snapshot-mount"
OPTIONS=$(awk '{for (i = 1; i < NF; i++) if ($i == "-o") print $(i + 1)}' "$WORK/snapshot-mount")
check "the credentials travel in the snapshot's extraoption" bash -c \
    'tr , "\n" <<<"$1" | sed -n "s/^extraoption=//p" | base64 -d | grep -qF "$2"' - "$OPTIONS" "$REGISTRY_AUTH_B64"
mkdir -p "$ROOT/srv/again"
check "mount.fuse with the snapshot's options mounts" \
    in_chroot /sbin/mount.fuse overlay /srv/again -o "$OPTIONS" -t nydus-overlayfs
check "the same call again succeeds" in_chroot /sbin/mount.fuse overlay /srv/again -o "$OPTIONS" -t nydus-overlayfs
check "and leaves one overlay there, not two sharing an upper directory" test "$(mountinfo_of /srv/again | wc -l)" = 1
check "which shows the container's write" test "$(cat "$ROOT/srv/again/tmp/written")" = written-by-the-pod
check "one umount leaves nothing mounted" bash -c 'chroot "$1" umount /srv/again && ! grep -qF " $1/srv/again " /proc/self/mountinfo' - "$ROOT"

if [ "$STORM" -gt 0 ]; then
    step "8. A storm: $STORM pods at once through CRI"
    check "all $STORM pods run to their end" quietly "$WORK/storm.log" \
        cri run storm "$STORM" "$POD_CGROUP" "$IMAGE" "${PROBE_COMMAND[@]}"
    check "every one exited 0" bash -c '[ "$(awk "\$2 == 0" "$1" | wc -l)" = "$2" ]' - "$WORK/storm.log" "$STORM"
    storm_rootfs_ok=0
    while read -r name _ log_path _; do
        container_output "$log_path" >"$WORK/$name.out"
        if rootfs_is_ours "$WORK/$name.out" && grep -qx 'uid=65534 euid=0' "$WORK/$name.out"; then
            storm_rootfs_ok=$((storm_rootfs_ok + 1))
        else
            echo "$name: / is $(awk '$5 == "/" {print $(NF-2), $(NF-1)}' "$WORK/$name.out")"
        fi
    done <"$WORK/storm.log"
    check "each pod's / is our overlay on nydusd's RAFS, with dev, suid and exec" test "$storm_rootfs_ok" = "$STORM"
fi

step "9. Outside: how the helper was called, and that it printed nothing"
check_helper_calls "$WORK/trace" $((2 + 2 * STORM))

step "10. Teardown through CRI, disable, then stop what this test started, by pid"
check "CRI stops and removes every container and pod, and removes the images" quietly "$WORK/teardown.log" cri teardown
if [ "${E2E_NOT_SWITCHED:-}" != 1 ]; then
    check "disable switches the node back" quietly "$WORK/disable.log" in_chroot nydus-overlayfs-setup disable
fi
check "containerd's config.toml is restored byte for byte" cmp "$WORK/config.before.toml" "$ROOT$CONFIG"
check "nydus-snapshotter's config.toml too" cmp "$WORK/nydus-config.before.toml" "$ROOT/etc/nydus/config.toml"
for log in containerd.log pull.log pull-probe.log run.log storm.log teardown.log enable.log status.log disable.log; do
    [ ! -e "$WORK/$log" ] || check_no_credential "$WORK/$log"
done
check_no_credential "$ROOT/var/log/pods"
stop_started
check "no process is left running in the node" test -z "$(node_processes)"
check "nothing is left mounted in the node but its /proc, /dev, /sys and /run" \
    test -z "$(awk -v root="$ROOT" 'index($5, root "/") == 1 && $5 !~ "^" root "/(proc|dev|sys|run)(/|$)"' /proc/self/mountinfo)"
check "nor under its /run" test -z "$(awk -v run="$ROOT/run/" 'index($5, run) == 1' /proc/self/mountinfo)"
remove_cgroups_made
check "the pods' cgroups are gone (runc removed each container's)" test -z "$(pod_cgroups)"
echo "end to end on $E2E_SUITE in ${SECONDS} s"
finish
