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
# SUITES="bookworm trixie sid" (the default) picks the nodes; sid's run also
# starts a storm of E2E_STORM pods at once (10; 0 for none).
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
    for suite in ${SUITES:-bookworm trixie sid}; do
        E2E_SUITE=$suite bash "$0" "$@" || status=1
    done
    exit "$status"
fi
BASE_SUITE=$E2E_SUITE
source "$(dirname "$0")/../lifecycle/lib.sh"
E2E=$REPO/tests/e2e
NYDUS_BIN=$CACHE/nydus-rs-2.2.0/bin
CRI_API=$CACHE/sid/golang-k8s-cri-api-dev/usr/share/gocode/src/k8s.io/cri-api/pkg/apis/runtime/v1
CRI_VENV=$CACHE/cri-venv
for part in "$NYDUS_BIN/nydusd" "$NYDUS_BIN/nydus-image" "$CACHE/sid/docker-registry/usr/bin/docker-registry" \
    "$CACHE/sid/busybox-static/usr/bin/busybox" "$CACHE"/sid/debs/nydus-snapshotter_*.deb \
    "$CRI_API/api.proto" "$CRI_VENV/bin/python3" "$REPO"/target/debian/nydus-overlayfs_*.deb; do
    [ -e "$part" ] || { echo "$0: $part is missing; run 'make test-e2e' (or make deps-e2e package)" >&2; exit 1; }
done
[ -n "${LIFECYCLE_WORK:-}" ] || echo "=== e2e node: Debian $E2E_SUITE"
run_isolated "$@"

WORK=$LIFECYCLE_WORK
DEB=$(ls "$REPO"/target/debian/nydus-overlayfs_*.deb)
SNAPSHOTTER_DEB=$(ls "$CACHE"/sid/debs/nydus-snapshotter_*.deb)
CONTAINERD_SOCKET=/run/containerd/containerd.sock
SNAPSHOTTER_SOCKET=/run/containerd-nydus/containerd-nydus-grpc.sock
STORM=${E2E_STORM:-10}
[ "$E2E_SUITE" = sid ] || STORM=0
# The cgroup parent of this run's pods (cgroupfs driver, containerd's
# default), removed at the end.
POD_CGROUP=/nydus-e2e-$E2E_SUITE-$$
# The processes this test starts, by name, for the teardown.
declare -A STARTED=()

# The CRI client's stubs, generated from Debian's api.proto by grpcio-tools
# (the venv holds grpcio and grpcio-tools from PyPI; make deps-e2e).
generate_cri_stubs() {
    mkdir -p "$WORK/cri"
    "$CRI_VENV/bin/python3" -m grpc_tools.protoc -I "$CRI_API" --python_out="$WORK/cri" \
        --grpc_python_out="$WORK/cri" "$CRI_API/api.proto"
}

# cri COMMAND...: tests/e2e/cri.py against the node's containerd.
cri() {
    "$CRI_VENV/bin/python3" "$E2E/cri.py" "$WORK/cri" "$ROOT$CONTAINERD_SOCKET" "$ROOT$SNAPSHOTTER_SOCKET" "$@"
}

cri_answers() {
    cri version >/dev/null 2>&1
}

# PullImage with the registry's credentials in the CRI AuthConfig.
pull_image() {
    REGISTRY_AUTH="$REGISTRY_USER:$REGISTRY_PASSWORD" cri pull "$1"
}

# A node: a fresh copy of the suite's cached chroot with what containers
# need mounted.
# The chroot is made a mount point of its own, as runc's pivot_root needs.
make_node() {
    new_chroot
    mount --rbind "$ROOT" "$ROOT"
    mount --rbind /dev "$ROOT/dev"
    mount --rbind /sys "$ROOT/sys"
    mount -t tmpfs -o mode=755 tmpfs "$ROOT/run"
    # A minbase chroot of trixie or sid has no /etc/hosts (an installed
    # system has), and CRI copies it into every pod.
    [ -e "$ROOT/etc/hosts" ] || printf '127.0.0.1\tlocalhost\n::1\t\tlocalhost\n' >"$ROOT/etc/hosts"
}

# A loopback registry that wants a password: the snapshotter then puts the
# credentials into the nydusd configuration it passes in extraoption.
start_registry() {
    local port
    port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
    REGISTRY=127.0.0.1:$port
    REGISTRY_USER=e2e
    REGISTRY_PASSWORD=$(head -c 24 /dev/urandom | base64 | tr -d '/+=')
    REGISTRY_AUTH_B64=$(printf '%s:%s' "$REGISTRY_USER" "$REGISTRY_PASSWORD" | base64 -w0)
    htpasswd -Bin "$REGISTRY_USER" <<<"$REGISTRY_PASSWORD" >"$WORK/htpasswd" 2>/dev/null
    cat >"$WORK/registry.yml" <<EOF
version: 0.1
log:
  level: warn
storage:
  filesystem:
    rootdirectory: $WORK/registry
http:
  addr: $REGISTRY
auth:
  htpasswd:
    realm: e2e
    path: $WORK/htpasswd
EOF
    "$CACHE/sid/docker-registry/usr/bin/docker-registry" serve "$WORK/registry.yml" >"$WORK/registry.log" 2>&1 &
    STARTED[registry]=$!
    wait_for "the registry to listen" curl -s -o /dev/null "http://$REGISTRY/v2/"
}

# The images, from one tree (static busybox, a setuid-root probe and a
# world-writable /tmp) made a one-layer Nydus image: the probe, and the pause
# image pods start with, which only sleeps (the node's sandbox image: there
# is no other registry to take one from).
push_images() {
    local rootfs=$WORK/rootfs
    mkdir -p "$rootfs/bin" "$rootfs/tmp" "$rootfs/proc" "$rootfs/sys" "$rootfs/dev" "$WORK/image" "$WORK/pause"
    cp "$CACHE/sid/busybox-static/usr/bin/busybox" "$rootfs/bin/busybox"
    gcc -static -O2 -o "$rootfs/bin/euid" "$E2E/euid.c"
    chmod 4755 "$rootfs/bin/euid"
    chmod 1777 "$rootfs/tmp"
    IMAGE=$REGISTRY/e2e/probe:1
    PAUSE_IMAGE=$REGISTRY/e2e/pause:1
    REGISTRY_AUTH="$REGISTRY_USER:$REGISTRY_PASSWORD" \
        "$E2E/push-nydus-image.py" "$NYDUS_BIN/nydus-image" "$rootfs" "$WORK/image" "$REGISTRY" e2e/probe:1
    REGISTRY_AUTH="$REGISTRY_USER:$REGISTRY_PASSWORD" \
        "$E2E/push-nydus-image.py" "$NYDUS_BIN/nydus-image" "$rootfs" "$WORK/pause" "$REGISTRY" e2e/pause:1 \
        /bin/busybox sleep 2147483647
}

stopped() {
    ! kill -0 "$1" 2>/dev/null
}

# wait_for WHAT COMMAND...: polls COMMAND for up to 30 s.
wait_for() {
    local what=$1 tries=300
    shift
    until "$@"; do
        tries=$((tries - 1))
        [ "$tries" -gt 0 ] || { echo "e2e: timed out waiting for $what" >&2; return 1; }
        sleep 0.1
    done
}

# Stops what this test started, by pid, in reverse order of need: containerd
# (strace then ends with it), then the snapshotter, which stops its nydusd.
# SIGTERM, and SIGKILL for what has not ended 30 s later.
stop_started() {
    local name pid
    for name in containerd strace snapshotter registry; do
        pid=${STARTED[$name]:-}
        [ -n "$pid" ] || continue
        kill "$pid" 2>/dev/null || true
        wait_for "$name to stop" stopped "$pid" || kill -9 "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
        unset "STARTED[$name]"
    done
}

# On any exit: stop what is still running, then whatever is left inside the
# node (a shim, a nydusd), by pid too.
teardown() {
    local pid
    [ -z "${E2E_LOG_DIR:-}" ] || cp "$WORK"/*.log "$WORK/trace" "$E2E_LOG_DIR/" 2>/dev/null || true
    stop_started
    for pid in $(processes_in_node); do
        echo "e2e: still running in the node: $(tr '\0' ' ' </proc/"$pid"/cmdline | cut -c1-60); killing it" >&2
        kill -9 "$pid" 2>/dev/null || true
    done
    for pid in $(pod_processes); do
        echo "e2e: still running in a pod: $(tr '\0' ' ' </proc/"$pid"/cmdline | cut -c1-60); killing it" >&2
        kill -9 "$pid" 2>/dev/null || true
    done
    for pid in $(processes_in_node); do
        wait_for "process $pid to end" stopped "$pid" || true
    done
    wait_for "the pods' processes to end" pods_empty || true
    remove_cgroups_made all
}

# Whether a nydusd in the node has the FUSE mount at this node path.
nydusd_serves() {
    local pid
    for pid in $(processes_in_node); do
        tr '\0' ' ' <"/proc/$pid/cmdline" | grep -q "^/usr/local/libexec/nydusd .*--mountpoint $1 " && return 0
    done
    return 1
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
processes_in_node() {
    local link
    for link in /proc/[0-9]*/root; do
        [ "$(readlink "$link" 2>/dev/null)" = "$ROOT" ] && basename "$(dirname "$link")"
    done
    return 0
}

# What a pod's container printed, from the log file CRI wrote (as kubelet
# reads it): "TIME STREAM TAG LINE" per line.
container_output() {
    cut -d' ' -f4- "$ROOT$1"
}

# rootfs_is_ours OUTPUT: whether the container's / (in the mountinfo it
# printed) is an overlay with one lower layer given by descriptor, the RAFS
# FUSE mount of a nydusd in the node, and without nodev, nosuid or noexec.
rootfs_is_ours() {
    local line lower
    line=$(awk '$5 == "/"' "$1")
    lower=$(awk '{print $NF}' <<<"$line" | tr , '\n' | sed -n 's/^lowerdir+=//p')
    [ "$(awk '{print $(NF-2)}' <<<"$line")" = overlay ] && [ "$(wc -w <<<"$lower")" = 1 ] &&
        [ "$(mountinfo_of "$lower" | awk '{print $(NF-2), $(NF-1)}')" = "fuse rafs" ] &&
        nydusd_serves "$lower" && ! grep -qwE "nodev|nosuid|noexec" <<<"$(awk '{print $6}' <<<"$line")"
}

# What the sandbox forces on the admin's config, made before enable, as an
# air-gapped admin would: the pause image comes from the loopback registry
# (sandbox_image in containerd 1.6/1.7, pinned_images.sandbox in 2.x); and
# pods keep containerd's oom_score_adj instead of -998, which this sandbox
# may not set (no CAP_SYS_RESOURCE).
sandbox_additions() {
    local config=$ROOT/etc/containerd/config.toml
    sed -i -E -e "s|^([[:space:]]*)sandbox_image = .*|\1sandbox_image = \"$PAUSE_IMAGE\"|" \
        -e "s|^([[:space:]]*)sandbox = .*|\1sandbox = '$PAUSE_IMAGE'|" \
        -e "s|^([[:space:]]*)restrict_oom_score_adj = false|\1restrict_oom_score_adj = true|" "$config"
    grep -qF "$PAUSE_IMAGE" "$config" && grep -q 'restrict_oom_score_adj = true' "$config"
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
install -m 755 "$NYDUS_BIN/nydus-image" "$ROOT/usr/local/bin/"
# nydusd raises its open-files limit to a million at start and exits where
# it may not (no CAP_SYS_RESOURCE in this sandbox); the snapshotter passes
# no extra arguments, so a wrapper in nydusd's place tells it not to (after
# the subcommand, which the snapshotter gives first).
install -D -m 755 "$NYDUS_BIN/nydusd" "$ROOT/usr/local/libexec/nydusd"
printf '#!/bin/sh\ncommand=$1\nshift\nexec /usr/local/libexec/nydusd "$command" --rlimit-nofile 0 "$@"\n' >"$ROOT/usr/local/bin/nydusd"
chmod 755 "$ROOT/usr/local/bin/nydusd"

step "2. A registry on loopback with the Nydus images: the probe and the pause image"
start_registry
quietly "$WORK/push.log" push_images

step "3. The admin's configs: containerd's own default, the sandbox's pause image, then enable"
check "containerd config default writes config.toml" \
    in_chroot sh -c 'containerd config default >/etc/containerd/config.toml'
cp "$ROOT/etc/containerd/config.toml" "$WORK/config.default.toml"
check "the sandbox's additions: the loopback pause image, restrict_oom_score_adj" sandbox_additions
{ diff "$WORK/config.default.toml" "$ROOT/etc/containerd/config.toml" || true; } |
    sed -n "s/^> */changed to: /p" | sed "s|$REGISTRY|REGISTRY|"
mkdir -p "$ROOT/etc/nydus"
cp "$E2E/snapshotter-config.toml" "$ROOT/etc/nydus/config.toml"
cp "$E2E/nydusd-config.json" "$ROOT/etc/nydus/nydusd-config.fusedev.json"
cp "$ROOT/etc/containerd/config.toml" "$WORK/config.before.toml"
cp "$ROOT/etc/nydus/config.toml" "$WORK/nydus-config.before.toml"
if [ "${E2E_NOT_SWITCHED:-}" = 1 ]; then
    echo "E2E_NOT_SWITCHED=1: enable is not run; the node is containerd's default"
    : >"$WORK/enable.log"
    : >"$WORK/status.log"
else
    check "the admin command switches the node" quietly "$WORK/enable.log" in_chroot nydus-overlayfs-setup enable
    check "status says switched" quietly "$WORK/status.log" in_chroot nydus-overlayfs-setup status
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
    chroot "$ROOT" "${SERVICE_ENV[@]}" containerd --log-level debug \
    >"$WORK/containerd.log" 2>&1 </dev/null &
STARTED[strace]=$!
check "containerd listens" wait_for containerd test -S "$ROOT$CONTAINERD_SOCKET"
STARTED[containerd]=$(cat /proc/"${STARTED[strace]}"/task/*/children | awk '{print $1}')
check "its CRI plugin answers" wait_for "CRI" cri_answers

step "5. Through CRI only: pull with the credentials in AuthConfig, run a pod, read its log"
check "PullImage pulls the pause image" quietly "$WORK/pull.log" pull_image "$PAUSE_IMAGE"
check "PullImage pulls the probe image" quietly "$WORK/pull-probe.log" pull_image "$IMAGE"
PROBE_COMMAND=(/bin/busybox sh -c 'cat /proc/self/mountinfo; /bin/euid; echo written-by-the-pod >/tmp/written')
check "RunPodSandbox, CreateContainer and StartContainer run the pod to its end" quietly "$WORK/run.log" \
    cri run probe 1 "$POD_CGROUP" "$IMAGE" "${PROBE_COMMAND[@]}"
cat "$WORK/run.log"
read -r POD EXIT_CODE LOG_PATH CONTAINER <"$WORK/run.log"
check "the container exited 0" test "$EXIT_CODE" = 0
container_output "$LOG_PATH" >"$WORK/probe.out"

step "6. Inside the pod: / is our overlay on nydusd, with dev, suid and exec"
ROOT_LINE=$(awk '$5 == "/"' "$WORK/probe.out")
SUPER_OPTIONS=$(awk '{print $NF}' <<<"$ROOT_LINE" | tr , '\n')
LOWER=$(sed -n 's/^lowerdir+=//p' <<<"$SUPER_OPTIONS")
UPPER=$(sed -n 's/^upperdir=//p' <<<"$SUPER_OPTIONS")
echo "/ is: $(awk '{print $(NF-2), $(NF-1)}' <<<"$ROOT_LINE")"
check "/ is an overlay" test "$(awk '{print $(NF-2)}' <<<"$ROOT_LINE")" = overlay
check "its one lower layer was given by descriptor (lowerdir+=), as our helper does" test "$(wc -w <<<"$LOWER")" = 1
check "that layer is a FUSE mount of RAFS" test "$(mountinfo_of "$LOWER" | awk '{print $(NF-2), $(NF-1)}')" = "fuse rafs"
check "served by the nydusd running for this image" nydusd_serves "$LOWER"
check "/ is mounted without nodev, nosuid or noexec" \
    bash -c '! grep -qwE "nodev|nosuid|noexec" <<<"$1"' - "$(awk '{print $6}' <<<"$ROOT_LINE")"
check "the setuid-root probe run by uid 65534 (no_new_privs off) gets euid 0" grep -qx 'uid=65534 euid=0' "$WORK/probe.out"
check "the container's write landed in the snapshot's upper directory" \
    test "$(cat "$ROOT$UPPER/tmp/written")" = written-by-the-pod

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
"$E2E/helper-calls.py" "$WORK/trace" >"$WORK/helper-calls"
echo "helper runs: $(wc -l <"$WORK/helper-calls") for $((2 + 2 * STORM)) containers (pause and probe per pod)"
check "the helper ran for every container" test "$(wc -l <"$WORK/helper-calls")" -ge $((2 + 2 * STORM))
check "every run was /usr/sbin/nydus-overlayfs, from our .deb (not sid's Go helper in /usr/bin)" \
    bash -c '! cut -f1 "$1" | grep -vqx /usr/sbin/nydus-overlayfs' - "$WORK/helper-calls"
check "every run came from containerd or its shim through mount.fuse -t nydus-overlayfs" \
    bash -c '! cut -f2 "$1" | grep -vqE "> (containerd-shim-runc-v2|containerd) > mount.fuse3? -t nydus-overlayfs > sh > nydus-overlayfs$"' - "$WORK/helper-calls"
check "every run succeeded (a repeated call included)" bash -c '! cut -f4 "$1" | grep -vqx 0' - "$WORK/helper-calls"
check "the helper wrote nothing (no error, no option echoed)" bash -c '! cut -f3 "$1" | grep -vqx 0' - "$WORK/helper-calls"

step "10. Teardown through CRI, disable, then stop what this test started, by pid"
check "CRI stops and removes every container and pod, and removes the images" quietly "$WORK/teardown.log" cri teardown
if [ "${E2E_NOT_SWITCHED:-}" != 1 ]; then
    check "disable switches the node back" quietly "$WORK/disable.log" in_chroot nydus-overlayfs-setup disable
fi
check "containerd's config.toml is restored byte for byte" cmp "$WORK/config.before.toml" "$ROOT/etc/containerd/config.toml"
check "nydus-snapshotter's config.toml too" cmp "$WORK/nydus-config.before.toml" "$ROOT/etc/nydus/config.toml"
for log in containerd.log pull.log pull-probe.log run.log storm.log teardown.log enable.log status.log disable.log; do
    [ -e "$WORK/$log" ] || continue
    check "no credential in $log" bash -c '! grep -qF -e "$2" -e "$3" "$1"' - "$WORK/$log" "$REGISTRY_PASSWORD" "$REGISTRY_AUTH_B64"
done
check "no credential in the pods' logs" bash -c '! grep -rqF -e "$2" -e "$3" "$1"' - "$ROOT/var/log/pods" "$REGISTRY_PASSWORD" "$REGISTRY_AUTH_B64"
stop_started
check "no process is left running in the node" test -z "$(processes_in_node)"
check "nothing is left mounted in the node but its /proc, /dev, /sys and /run" \
    test -z "$(awk -v root="$ROOT" 'index($5, root "/") == 1 && $5 !~ "^" root "/(proc|dev|sys|run)(/|$)"' /proc/self/mountinfo)"
check "nor under its /run" test -z "$(awk -v run="$ROOT/run/" 'index($5, run) == 1' /proc/self/mountinfo)"
remove_cgroups_made
check "the pods' cgroups are gone (runc removed each container's)" test -z "$(pod_cgroups)"
echo "end to end on $E2E_SUITE in ${SECONDS} s"
finish
