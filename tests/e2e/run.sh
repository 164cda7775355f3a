#!/usr/bin/env bash
# End to end: a container from a Nydus image, started by containerd through
# nydus-snapshotter, nydusd and the installed .deb's helper, on a node that
# is a Debian bookworm chroot in a private mount namespace. The registry
# listens on 127.0.0.1; nothing else is reached. Run by `make test-e2e` as
# root after `make package` (`make deps-e2e` fetches and builds the parts).
# E2E_LOG_DIR=DIR keeps every daemon's log and the strace log there; they
# hold this run's throwaway registry password.
source "$(dirname "$0")/../lifecycle/lib.sh"
E2E=$REPO/tests/e2e
NYDUS_BIN=$CACHE/nydus-rs-2.2.0/bin
for part in "$NYDUS_BIN/nydusd" "$NYDUS_BIN/nydus-image" "$CACHE/sid/docker-registry/usr/bin/docker-registry" \
    "$CACHE/sid/busybox-static/usr/bin/busybox" "$CACHE"/sid/debs/nydus-snapshotter_*.deb \
    "$REPO"/target/debian/nydus-overlayfs_*.deb; do
    [ -e "$part" ] || { echo "$0: $part is missing; run 'make test-e2e' (or make deps-e2e package)" >&2; exit 1; }
done
run_isolated "$@"

WORK=$LIFECYCLE_WORK
DEB=$(ls "$REPO"/target/debian/nydus-overlayfs_*.deb)
SNAPSHOTTER_DEB=$(ls "$CACHE"/sid/debs/nydus-snapshotter_*.deb)
CONTAINERD_SOCKET=/run/containerd/containerd.sock
# The processes this test starts, by name, for the teardown.
declare -A STARTED=()

# The pull client (tests/e2e/nydus-pull), built once per version of its
# source in a throwaway chroot against Debian's containerd Go sources, so
# that the machine gets no Go toolchain and no containerd package. Sets
# PULL_CLIENT.
build_pull_client() {
    local sum built build
    sum=$(sha256sum "$E2E/nydus-pull/main.go" | cut -c1-16)
    built=$CACHE/e2e/nydus-pull-$sum
    if [ ! -x "$built" ]; then
        echo "e2e: building the pull client (once)"
        build=$WORK/gobuild
        mkdir -p "$build"
        tar -C "$build" -xzf "$BASE_TAR"
        cp /etc/resolv.conf "$build/etc/resolv.conf"
        mkdir -p "$build/root/go/src/nydus-pull"
        cp "$E2E/nydus-pull/main.go" "$build/root/go/src/nydus-pull/"
        quietly "$WORK/gobuild.log" chroot "$build" "${SERVICE_ENV[@]}" sh -ec '
            apt-get update -q
            apt-get install -q -y --no-install-recommends golang-go golang-github-containerd-containerd-dev
            cd /root/go/src/nydus-pull
            GO111MODULE=off GOPATH=/root/go:/usr/share/gocode CGO_ENABLED=0 go build -o /root/nydus-pull .' </dev/null
        mkdir -p "$CACHE/e2e"
        cp "$build/root/nydus-pull" "$built.tmp" && mv "$built.tmp" "$built"
        rm -rf "$build"
    fi
    PULL_CLIENT=$built
}

# A node: the cached bookworm chroot with what containers need mounted.
# The chroot is made a mount point of its own, as runc's pivot_root needs.
make_node() {
    new_chroot
    mount --rbind "$ROOT" "$ROOT"
    mount --rbind /dev "$ROOT/dev"
    mount --rbind /sys "$ROOT/sys"
    mount -t tmpfs -o mode=755 tmpfs "$ROOT/run"
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

# The image: static busybox, a setuid-root probe and a world-writable /tmp,
# made a one-layer Nydus image and pushed.
push_image() {
    local rootfs=$WORK/rootfs
    mkdir -p "$rootfs/bin" "$rootfs/tmp" "$rootfs/proc" "$rootfs/sys" "$rootfs/dev" "$WORK/image"
    cp "$CACHE/sid/busybox-static/usr/bin/busybox" "$rootfs/bin/busybox"
    gcc -static -O2 -o "$rootfs/bin/euid" "$E2E/euid.c"
    gcc -static -O2 -o "$rootfs/bin/as-user" "$E2E/as-user.c"
    chmod 4755 "$rootfs/bin/euid"
    chmod 1777 "$rootfs/tmp"
    IMAGE=$REGISTRY/e2e/probe:1
    REGISTRY_AUTH="$REGISTRY_USER:$REGISTRY_PASSWORD" \
        "$E2E/push-nydus-image.py" "$NYDUS_BIN/nydus-image" "$rootfs" "$WORK/image" "$REGISTRY" e2e/probe:1
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
    remove_cgroups_made
}

# Whether a nydusd in the node has the FUSE mount at this node path.
nydusd_serves() {
    local pid
    for pid in $(processes_in_node); do
        tr '\0' ' ' <"/proc/$pid/cmdline" | grep -q "^/usr/local/libexec/nydusd .*--mountpoint $1 " && return 0
    done
    return 1
}

# containerd's namespace cgroups ("default", in each hierarchy), which runc
# makes for ctr's containers and leaves behind once they are empty.
namespace_cgroups() {
    find /sys/fs/cgroup -maxdepth 2 -type d -name default | sort
}

# Removes the namespace cgroups this test made (rmdir: only empty ones).
remove_cgroups_made() {
    comm -13 <(echo "$CGROUPS_BEFORE") <(namespace_cgroups) | xargs -r rmdir 2>/dev/null || true
}

# The pids of processes whose root is the node.
processes_in_node() {
    local link
    for link in /proc/[0-9]*/root; do
        [ "$(readlink "$link" 2>/dev/null)" = "$ROOT" ] && basename "$(dirname "$link")"
    done
    return 0
}

build_pull_client
CGROUPS_BEFORE=$(namespace_cgroups)
trap teardown EXIT

step "1. A node: bookworm's containerd, sid's nydus-snapshotter and our .deb, installed by apt"
make_node
mkdir -p "$ROOT/srv/debs"
cp "$DEB" "$SNAPSHOTTER_DEB" "$ROOT/srv/debs/"
check "apt-get install containerd, nydus-snapshotter and nydus-overlayfs" quietly "$WORK/apt.log" \
    in_chroot sh -c 'apt-get install -q -y --no-install-recommends containerd /srv/debs/*.deb'
install -m 755 "$NYDUS_BIN/nydus-image" "$ROOT/usr/local/bin/"
# nydusd raises its open-files limit to a million at start and exits where
# it may not (no CAP_SYS_RESOURCE in this sandbox); the snapshotter passes
# no extra arguments, so a wrapper in nydusd's place tells it not to (after
# the subcommand, which the snapshotter gives first).
install -D -m 755 "$NYDUS_BIN/nydusd" "$ROOT/usr/local/libexec/nydusd"
printf '#!/bin/sh\ncommand=$1\nshift\nexec /usr/local/libexec/nydusd "$command" --rlimit-nofile 0 "$@"\n' >"$ROOT/usr/local/bin/nydusd"
chmod 755 "$ROOT/usr/local/bin/nydusd"
install -m 755 "$PULL_CLIENT" "$ROOT/srv/nydus-pull"
mkdir -p "$ROOT/etc/nydus" "$ROOT/root/.docker"
cp "$E2E/snapshotter-config.toml" "$ROOT/etc/nydus/config.toml"
cp "$E2E/nydusd-config.json" "$ROOT/etc/nydus/nydusd-config.fusedev.json"
check "the admin command switches the node" quietly "$WORK/enable.log" in_chroot nydus-overlayfs-setup enable
check "status says switched" quietly "$WORK/status.log" in_chroot nydus-overlayfs-setup status

step "2. A registry on loopback with a Nydus image; nydus-snapshotter, nydusd and containerd"
start_registry
quietly "$WORK/push.log" push_image
printf '{"auths": {"%s": {"auth": "%s"}}}\n' "$REGISTRY" "$REGISTRY_AUTH_B64" >"$ROOT/root/.docker/config.json"
# chroot, not in_chroot: the daemons' own pids are what gets stopped.
chroot "$ROOT" "${SERVICE_ENV[@]}" containerd-nydus-grpc --config /etc/nydus/config.toml --log-to-stdout \
    >"$WORK/snapshotter.log" 2>&1 </dev/null &
STARTED[snapshotter]=$!
check "nydus-snapshotter listens" wait_for "nydus-snapshotter" test -S "$ROOT/run/containerd-nydus/containerd-nydus-grpc.sock"
# Every program containerd and its shims run, and what the helper writes.
strace -f -qq -s 64 -o "$WORK/trace" -e trace=execve,clone,clone3,fork,vfork,write,writev \
    chroot "$ROOT" "${SERVICE_ENV[@]}" containerd --log-level debug \
    >"$WORK/containerd.log" 2>&1 </dev/null &
STARTED[strace]=$!
check "containerd listens" wait_for containerd test -S "$ROOT$CONTAINERD_SOCKET"
STARTED[containerd]=$(cat /proc/"${STARTED[strace]}"/task/*/children | awk '{print $1}')

step "3. Pull, then ctr run --snapshotter nydus as an unprivileged user"
check "the image is pulled and unpacked by the nydus snapshotter" quietly "$WORK/pull.log" \
    in_chroot REGISTRY_AUTH="$REGISTRY_USER:$REGISTRY_PASSWORD" /srv/nydus-pull "$CONTAINERD_SOCKET" "$IMAGE"
CONTAINER=nydus-e2e-$$
# --allow-new-privs: ctr sets no_new_privs, which would hide the setuid bit
# whatever the mount says; Kubernetes' default (allowPrivilegeEscalation)
# does not set it.
check "ctr run starts the container" quietly "$WORK/ctr-run.log" in_chroot ctr run --snapshotter nydus \
    --allow-new-privs "$IMAGE" "$CONTAINER" /bin/as-user 65534 /bin/busybox sh -c \
    "cat /proc/self/mountinfo; /bin/euid; echo $CONTAINER >/tmp/written"

step "4. Inside the container: / is our overlay on nydusd, with dev, suid and exec"
ROOT_LINE=$(awk '$5 == "/"' "$WORK/ctr-run.log")
SUPER_OPTIONS=$(awk '{print $NF}' <<<"$ROOT_LINE" | tr , '\n')
LOWER=$(sed -n 's/^lowerdir+=//p' <<<"$SUPER_OPTIONS")
UPPER=$(sed -n 's/^upperdir=//p' <<<"$SUPER_OPTIONS")
check "/ is an overlay" test "$(awk '{print $(NF-2)}' <<<"$ROOT_LINE")" = overlay
check "its one lower layer was given by descriptor (lowerdir+=), as our helper does" test "$(wc -w <<<"$LOWER")" = 1
check "that layer is a FUSE mount of RAFS" test "$(mountinfo_of "$LOWER" | awk '{print $(NF-2), $(NF-1)}')" = "fuse rafs"
check "served by the nydusd running for this image" nydusd_serves "$LOWER"
check "/ is mounted without nodev, nosuid or noexec" \
    bash -c '! grep -qwE "nodev|nosuid|noexec" <<<"$1"' - "$(awk '{print $6}' <<<"$ROOT_LINE")"
check "the setuid-root probe run by uid 65534 gets euid 0" grep -qx 'uid=65534 euid=0' "$WORK/ctr-run.log"
check "the container's write landed in the snapshot's upper directory" \
    test "$(cat "$ROOT$UPPER/tmp/written")" = "$CONTAINER"

step "5. Outside: how the helper was called, and that it printed nothing"
"$E2E/helper-calls.py" "$WORK/trace" >"$WORK/helper-calls"
check "the helper ran" test -s "$WORK/helper-calls"
check "every run was /usr/sbin/nydus-overlayfs, from our .deb (not sid's Go helper in /usr/bin)" \
    bash -c '! cut -f1 "$1" | grep -vqx /usr/sbin/nydus-overlayfs' - "$WORK/helper-calls"
check "every run came from containerd's shim through mount.fuse -t nydus-overlayfs" \
    bash -c '! cut -f2 "$1" | grep -vq "> containerd-shim-runc-v2 > mount.fuse -t nydus-overlayfs > sh > nydus-overlayfs$"' - "$WORK/helper-calls"
check "the helper wrote nothing (no error, no option echoed)" bash -c '! cut -f3 "$1" | grep -vqx 0' - "$WORK/helper-calls"
echo "helper runs for the one container: $(wc -l <"$WORK/helper-calls")"
in_chroot ctr snapshots --snapshotter nydus mounts /srv/again "$CONTAINER" >"$WORK/snapshot-mount"
OPTIONS=$(awk '{for (i = 1; i < NF; i++) if ($i == "-o") print $(i + 1)}' "$WORK/snapshot-mount")
check "the credentials travel in the snapshot's extraoption" bash -c \
    'tr , "\n" <<<"$1" | sed -n "s/^extraoption=//p" | base64 -d | grep -qF "$2"' - "$OPTIONS" "$REGISTRY_AUTH_B64"
for log in containerd.log ctr-run.log pull.log enable.log status.log; do
    check "no credential in $log" bash -c '! grep -qF -e "$2" -e "$3" "$1"' - "$WORK/$log" "$REGISTRY_PASSWORD" "$REGISTRY_AUTH_B64"
done

step "6. A repeated call for the same target, as the shim makes when it loses the exit status"
mkdir -p "$ROOT/srv/again"
check "mount.fuse with the snapshot's options mounts" \
    in_chroot /sbin/mount.fuse overlay /srv/again -o "$OPTIONS" -t nydus-overlayfs
check "the same call again succeeds" in_chroot /sbin/mount.fuse overlay /srv/again -o "$OPTIONS" -t nydus-overlayfs
check "and leaves one overlay there, not two sharing an upper directory" test "$(mountinfo_of /srv/again | wc -l)" = 1
check "which shows the container's write" test "$(cat "$ROOT/srv/again/tmp/written")" = "$CONTAINER"
check "one umount leaves nothing mounted" bash -c 'chroot "$1" umount /srv/again && ! grep -qF " $1/srv/again " /proc/self/mountinfo' - "$ROOT"

step "7. Teardown: remove the container and image, stop what this test started, by pid"
check "ctr removes the container" quietly "$WORK/rm.log" in_chroot ctr containers rm "$CONTAINER"
check "ctr removes the image" quietly "$WORK/rm.log" in_chroot ctr images rm "$IMAGE"
stop_started
check "no process is left running in the node" test -z "$(processes_in_node)"
check "nothing is left mounted in the node but its /proc, /dev, /sys and /run" \
    test -z "$(awk -v root="$ROOT" 'index($5, root "/") == 1 && $5 !~ "^" root "/(proc|dev|sys|run)(/|$)"' /proc/self/mountinfo)"
check "nor under its /run" test -z "$(awk -v run="$ROOT/run/" 'index($5, run) == 1' /proc/self/mountinfo)"
remove_cgroups_made
check "the cgroups runc made for the container are gone" test "$(namespace_cgroups)" = "$CGROUPS_BEFORE"
echo "end to end in ${SECONDS} s"
finish
