# shellcheck shell=bash
# Shared by the arm64 chroot tests: the lifecycle tests' helpers
# (tests/lifecycle/lib.sh) on an arm64 Debian chroot, whose programs run
# under qemu-aarch64-static through binfmt_misc.
#
# binfmt_misc: registered in a private instance, never in the machine's.
# Since Linux 6.7 a user namespace can mount its own binfmt_misc, which is
# the one its processes' execs consult; the tests run as root of such a
# namespace (uids and gids 0-65535 mapped to themselves, so files keep
# their owners) with their own mount and PID namespaces. The registration
# is gone with the namespace, whatever happens; nothing of the machine's
# binfmt_misc is read or changed.
source "$(dirname "${BASH_SOURCE[0]}")/../lifecycle/lib.sh"
ARM64_SUITE=bookworm
BASE_TAR=$CACHE/arm64-$ARM64_SUITE-minbase.tgz
QEMU=/usr/bin/qemu-aarch64-static
QEMU_BINFMT=/usr/share/binfmts/qemu-aarch64

# in_userns COMMAND...: runs COMMAND as root of a new user namespace (with
# new mount and PID namespaces) that maps uids and gids 0-65535 to themselves.
in_userns() {
    unshare --user --mount --pid --fork --propagation private \
        bash -c 'until grep -q . /proc/self/gid_map; do sleep 0.05; done; exec "$@"' in_userns "$@" &
    local pid=$! status=0
    # The map can be written once unshare is in its namespace.
    until [ "$(readlink "/proc/$pid/ns/user")" != "$(readlink /proc/self/ns/user)" ]; do sleep 0.05; done
    echo "0 0 65536" >"/proc/$pid/uid_map"
    echo "0 0 65536" >"/proc/$pid/gid_map"
    wait "$pid" || status=$?
    return "$status"
}

# register_aarch64 DIR (inside in_userns): this namespace's own binfmt_misc,
# mounted at DIR, with qemu-user-static's aarch64 entry (magic, mask,
# interpreter from its binfmts file). F: the interpreter is opened now, so it
# need not be inside the chroot.
register_aarch64() {
    local dir=$1
    mkdir -p "$dir"
    mount -t binfmt_misc binfmt_misc "$dir" 2>/dev/null || {
        echo "$0: cannot mount a private binfmt_misc in a user namespace (Linux 6.7 or newer can; this is $(uname -r))" >&2
        exit 1
    }
    field() { sed -n "s/^$1 //p" "$QEMU_BINFMT"; }
    printf ':nydus-overlayfs-aarch64:M:%s:%s:%s:%s:FP' "$(field offset)" "$(field magic)" "$(field mask)" \
        "$(field interpreter)" >"$dir/register"
}

requirements() {
    [ "$(id -u)" -eq 0 ] || { echo "$0: needs root (chroot, mounts, dpkg)" >&2; exit 1; }
    [ -x "$QEMU" ] && [ -e "$QEMU_BINFMT" ] ||
        { echo "$0: qemu-user-static is missing; install it (make deps-arm64)" >&2; exit 1; }
}

# The cached arm64 base: debootstrap --foreign (the arm64 .debs unpacked
# here), then its second stage run by the arm64 dpkg under qemu, apt's lists
# and the .debs the tests install downloaded.
ensure_arm64_base() {
    [ -e "$BASE_TAR" ] && return 0
    local dir
    dir=$(mktemp -d /tmp/nydus-overlayfs-arm64-base.XXXXXX)
    echo "arm64: building the cached arm64 $ARM64_SUITE chroot $BASE_TAR (once; minutes under qemu)"
    debootstrap --foreign --arch arm64 --variant=minbase "$ARM64_SUITE" "$dir" "$("$REPO/tools/debian-mirror")" \
        >"$dir.log" 2>&1 || { tail -n 20 "$dir.log"; exit 1; }
    cp /etc/resolv.conf "$dir/etc/resolv.conf"
    in_userns bash "$REPO/tests/arm64/lib.sh" second-stage "$dir" >>"$dir.log" 2>&1 || { tail -n 30 "$dir.log"; exit 1; }
    rmdir "$dir.binfmt"
    mkdir -p "$CACHE"
    tar -C "$dir" -czf "$BASE_TAR.tmp" . && mv "$BASE_TAR.tmp" "$BASE_TAR"
    rm -rf "$dir" "$dir.log"
}

# (In the namespace.) debootstrap's second stage cannot make device nodes
# here; container=lxc tells it so (the first stage made them).
second_stage() {
    local dir=$1
    register_aarch64 "$dir.binfmt"
    container=lxc chroot "$dir" /debootstrap/debootstrap --second-stage
    grep -h '^Acquire::Check-Valid-Until' /etc/apt/apt.conf.d/* >"$dir/etc/apt/apt.conf.d/99machine" || true
    chroot "$dir" apt-get update -q
    chroot "$dir" apt-get install -q -y --download-only fuse3 containerd runc </dev/null
}

# Runs the calling script in the namespace, on a fresh copy of the cached
# base in $ROOT (unpacked outside: its device nodes can only be made there);
# call first with the script's "$@".
run_emulated() {
    if [ -n "${LIFECYCLE_WORK:-}" ]; then
        register_aarch64 "$LIFECYCLE_WORK/binfmt"
        ROOT=$LIFECYCLE_WORK/root
        mount -t proc proc "$ROOT/proc"
        return 0
    fi
    requirements
    ensure_arm64_base
    local work status=0
    work=$(mktemp -d /tmp/nydus-overlayfs-arm64.XXXXXX)
    mkdir "$work/root"
    tar -C "$work/root" -xzf "$BASE_TAR"
    cp /etc/resolv.conf "$work/root/etc/resolv.conf"
    LIFECYCLE_WORK=$work in_userns bash "$0" "$@" || status=$?
    rm -rf "$work"
    exit "$status"
}

if [ "${BASH_SOURCE[0]}" = "$0" ] && [ "${1:-}" = second-stage ]; then
    second_stage "$2"
fi
