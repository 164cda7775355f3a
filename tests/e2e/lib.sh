# shellcheck shell=bash
# Shared by the end-to-end nodes (run.sh: a chroot per suite; systemd-node.sh:
# a node that boots systemd): the loopback registry and its Nydus images, the
# CRI client, and the checks on a pod, on the helper's calls and on the logs.
# Sourced after tests/lifecycle/lib.sh, inside run_isolated. A node script
# sets ROOT (the node's tree), NODE_FS (where its files, /run included, are
# seen from here) and WORK, and defines node_processes (the pids running in
# the node) and node_mountinfo_of PATH (the mountinfo line of a node path).

E2E=$REPO/tests/e2e
NYDUS_BIN=$CACHE/nydus-rs-2.2.0/bin
CRI_API=$CACHE/sid/golang-k8s-cri-api-dev/usr/share/gocode/src/k8s.io/cri-api/pkg/apis/runtime/v1
CRI_VENV=$CACHE/cri-venv
CONTAINERD_SOCKET=/run/containerd/containerd.sock
SNAPSHOTTER_SOCKET=/run/containerd-nydus/containerd-nydus-grpc.sock
# What a pod of the probe image runs: it prints its mountinfo and what the
# setuid-root probe sees, and writes a file.
PROBE_COMMAND=(/bin/busybox sh -c 'cat /proc/self/mountinfo; /bin/euid; echo written-by-the-pod >/tmp/written')

# Exits with a pointer to make when a part made by make deps-e2e or make
# package is missing.
require_e2e_parts() {
    local part
    for part in "$NYDUS_BIN/nydusd" "$NYDUS_BIN/nydus-image" "$CACHE/sid/docker-registry/usr/bin/docker-registry" \
        "$CACHE/sid/busybox-static/usr/bin/busybox" "$CACHE"/sid/debs/nydus-snapshotter_*.deb \
        "$CRI_API/api.proto" "$CRI_VENV/bin/python3" "$REPO"/target/debian/nydus-overlayfs_*.deb "$@"; do
        [ -e "$part" ] || { echo "$0: $part is missing; run 'make test-e2e' (or make deps-e2e package)" >&2; exit 1; }
    done
}

# The CRI client's stubs, generated from Debian's api.proto by grpcio-tools
# (the venv holds grpcio and grpcio-tools from PyPI; make deps-e2e).
generate_cri_stubs() {
    mkdir -p "$WORK/cri"
    "$CRI_VENV/bin/python3" -m grpc_tools.protoc -I "$CRI_API" --python_out="$WORK/cri" \
        --grpc_python_out="$WORK/cri" "$CRI_API/api.proto"
}

# cri COMMAND...: tests/e2e/cri.py against the node's containerd.
cri() {
    "$CRI_VENV/bin/python3" "$E2E/cri.py" "$WORK/cri" "$NODE_FS$CONTAINERD_SOCKET" "$NODE_FS$SNAPSHOTTER_SOCKET" "$@"
}

cri_answers() {
    cri version >/dev/null 2>&1
}

# PullImage with the registry's credentials in the CRI AuthConfig.
pull_image() {
    REGISTRY_AUTH="$REGISTRY_USER:$REGISTRY_PASSWORD" cri pull "$1"
}

# nydus-image and nydusd into the node's /usr/local. nydusd raises its
# open-files limit to a million at start and exits where it may not (no
# CAP_SYS_RESOURCE in this sandbox); the snapshotter passes no extra
# arguments, so a wrapper in nydusd's place tells it not to (after the
# subcommand, which the snapshotter gives first).
install_nydus_tools() {
    install -D -m 755 "$NYDUS_BIN/nydus-image" "$ROOT/usr/local/bin/nydus-image"
    install -D -m 755 "$NYDUS_BIN/nydusd" "$ROOT/usr/local/libexec/nydusd"
    printf '#!/bin/sh\ncommand=$1\nshift\nexec /usr/local/libexec/nydusd "$command" --rlimit-nofile 0 "$@"\n' \
        >"$ROOT/usr/local/bin/nydusd"
    chmod 755 "$ROOT/usr/local/bin/nydusd"
}

# A minbase tree may have no /etc/hosts (an installed system has one), and
# CRI copies it into every pod.
add_hosts_file() {
    [ -e "$ROOT/etc/hosts" ] || printf '127.0.0.1\tlocalhost\n::1\t\tlocalhost\n' >"$ROOT/etc/hosts"
}

# nydus-snapshotter's config as an admin writes it (enable adds the switch).
write_snapshotter_config() {
    mkdir -p "$ROOT/etc/nydus"
    cp "$E2E/snapshotter-config.toml" "$ROOT/etc/nydus/config.toml"
    cp "$E2E/nydusd-config.json" "$ROOT/etc/nydus/nydusd-config.fusedev.json"
}

# A loopback registry that wants a password: the snapshotter then puts the
# credentials into the nydusd configuration it passes in extraoption. Its
# pid is REGISTRY_PID.
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
    REGISTRY_PID=$!
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

# stop_by_pid NAME PID: SIGTERM, and SIGKILL if it has not ended 30 s later.
stop_by_pid() {
    kill "$2" 2>/dev/null || true
    wait_for "$1 to stop" stopped "$2" || kill -9 "$2" 2>/dev/null || true
    wait "$2" 2>/dev/null || true
}

# Whether a nydusd in the node has the FUSE mount at this node path.
nydusd_serves() {
    local pid
    for pid in $(node_processes); do
        tr '\0' ' ' <"/proc/$pid/cmdline" | grep -q "^/usr/local/libexec/nydusd .*--mountpoint $1 " && return 0
    done
    return 1
}

# The admin's configs, written as an air-gapped admin would before switching
# the node: containerd's own `config default` plus what the sandbox needs, and
# nydus-snapshotter's; each kept as it was, for the byte-for-byte checks after
# disable. RUN runs a command in the node (in_chroot, or node when it booted).
write_admin_configs() {
    local run=$1
    check "containerd config default writes config.toml" "$run" sh -c 'containerd config default >/etc/containerd/config.toml'
    cp "$ROOT/etc/containerd/config.toml" "$WORK/config.default.toml"
    check "the sandbox's additions: the loopback pause image, restrict_oom_score_adj" sandbox_additions
    show_sandbox_additions
    write_snapshotter_config
    cp "$ROOT/etc/containerd/config.toml" "$WORK/config.before.toml"
    cp "$ROOT/etc/nydus/config.toml" "$WORK/nydus-config.before.toml"
}

# As kubelet starts a pod, through CRI only: PullImage of the pause and the
# probe image with the credentials in AuthConfig, then RunPodSandbox,
# CreateContainer and StartContainer, to the pod's end. Sets POD, EXIT_CODE,
# LOG_PATH and CONTAINER; what the probe printed is in $WORK/probe.out.
run_probe_pod() {
    check "PullImage pulls the pause image" quietly "$WORK/pull.log" pull_image "$PAUSE_IMAGE"
    check "PullImage pulls the probe image" quietly "$WORK/pull-probe.log" pull_image "$IMAGE"
    check "RunPodSandbox, CreateContainer and StartContainer run the pod to its end" quietly "$WORK/run.log" \
        cri run probe 1 "$POD_CGROUP" "$IMAGE" "${PROBE_COMMAND[@]}"
    cat "$WORK/run.log"
    read -r POD EXIT_CODE LOG_PATH CONTAINER <"$WORK/run.log"
    check "the container exited 0" test "$EXIT_CODE" = 0
    container_output "$LOG_PATH" >"$WORK/probe.out"
}

# What a pod's container printed, from the log file CRI wrote (as kubelet
# reads it): "TIME STREAM TAG LINE" per line.
container_output() {
    cut -d' ' -f4- "$NODE_FS$1"
}

# rootfs_is_ours OUTPUT: whether the container's / (in the mountinfo it
# printed) is an overlay with one lower layer given by descriptor, the RAFS
# FUSE mount of a nydusd in the node, and without nodev, nosuid or noexec.
rootfs_is_ours() {
    local line lower
    line=$(awk '$5 == "/"' "$1")
    lower=$(awk '{print $NF}' <<<"$line" | tr , '\n' | sed -n 's/^lowerdir+=//p')
    [ "$(awk '{print $(NF-2)}' <<<"$line")" = overlay ] && [ "$(wc -w <<<"$lower")" = 1 ] &&
        [ "$(node_mountinfo_of "$lower" | awk '{print $(NF-2), $(NF-1)}')" = "fuse rafs" ] &&
        nydusd_serves "$lower" && ! grep -qwE "nodev|nosuid|noexec" <<<"$(awk '{print $6}' <<<"$line")"
}

# check_probe_pod OUTPUT: each check on the probe pod's output, one by one;
# sets UPPER to the snapshot's upper directory (a node path).
check_probe_pod() {
    local root_line super_options lower
    root_line=$(awk '$5 == "/"' "$1")
    super_options=$(awk '{print $NF}' <<<"$root_line" | tr , '\n')
    lower=$(sed -n 's/^lowerdir+=//p' <<<"$super_options")
    UPPER=$(sed -n 's/^upperdir=//p' <<<"$super_options")
    echo "/ is: $(awk '{print $(NF-2), $(NF-1)}' <<<"$root_line")"
    check "/ is an overlay" test "$(awk '{print $(NF-2)}' <<<"$root_line")" = overlay
    check "its one lower layer was given by descriptor (lowerdir+=), as our helper does" test "$(wc -w <<<"$lower")" = 1
    check "that layer is a FUSE mount of RAFS" test "$(node_mountinfo_of "$lower" | awk '{print $(NF-2), $(NF-1)}')" = "fuse rafs"
    check "served by the nydusd running for this image" nydusd_serves "$lower"
    check "/ is mounted without nodev, nosuid or noexec" \
        bash -c '! grep -qwE "nodev|nosuid|noexec" <<<"$1"' - "$(awk '{print $6}' <<<"$root_line")"
    check "the setuid-root probe run by uid 65534 (no_new_privs off) gets euid 0" grep -qx 'uid=65534 euid=0' "$1"
    check "the container's write landed in the snapshot's upper directory" \
        test "$(cat "$NODE_FS$UPPER/tmp/written")" = written-by-the-pod
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

# Shows what sandbox_additions changed in containerd's default config (saved
# in $WORK/config.default.toml), with the registry's address left out.
show_sandbox_additions() {
    { diff "$WORK/config.default.toml" "$ROOT/etc/containerd/config.toml" || true; } |
        sed -n "s/^> */changed to: /p" | sed "s|$REGISTRY|REGISTRY|"
}

# check_helper_calls TRACE CONTAINERS [ATTACHED]: how the helper was run, in
# an strace -f log of containerd, for at least CONTAINERS containers; ATTACHED
# names containerd when strace attached to it (-p) instead of starting it.
check_helper_calls() {
    "$E2E/helper-calls.py" "$1" ${3:+--attached "$3"} >"$WORK/helper-calls"
    echo "helper runs: $(wc -l <"$WORK/helper-calls") for $2 containers (pause and probe per pod)"
    check "the helper ran for every container" test "$(wc -l <"$WORK/helper-calls")" -ge "$2"
    check "every run was /usr/sbin/nydus-overlayfs, from our .deb (not sid's Go helper in /usr/bin)" \
        bash -c '! cut -f1 "$1" | grep -vqx /usr/sbin/nydus-overlayfs' - "$WORK/helper-calls"
    check "every run came from containerd or its shim through mount.fuse -t nydus-overlayfs" \
        bash -c '! cut -f2 "$1" | grep -vqE "(^|> )(containerd-shim-runc-v2|containerd) > mount.fuse3? -t nydus-overlayfs > sh > nydus-overlayfs$"' - "$WORK/helper-calls"
    check "every run succeeded (a repeated call included)" bash -c '! cut -f4 "$1" | grep -vqx 0' - "$WORK/helper-calls"
    check "the helper wrote nothing (no error, no option echoed)" bash -c '! cut -f3 "$1" | grep -vqx 0' - "$WORK/helper-calls"
}

# check_no_credential FILE-OR-DIR...: neither the registry password nor its
# base64 is in any of them.
check_no_credential() {
    local log
    for log in "$@"; do
        check "no credential in ${log#"$WORK"/}" \
            bash -c '! grep -rqF -e "$2" -e "$3" "$1"' - "$log" "$REGISTRY_PASSWORD" "$REGISTRY_AUTH_B64"
    done
}
