# shellcheck shell=bash
# Shared by the package lifecycle tests: a Debian chroot (bookworm unless
# BASE_SUITE says otherwise) made once
# with debootstrap and cached, a fresh copy of it for each test script (one
# test's leftovers can never pass another), and helpers for the checks.
#
# Each script re-runs itself in a private mount namespace: every mount made
# inside the chroot disappears with it, whatever happens.

set -euo pipefail
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
CACHE=${NYDUS_OVERLAYFS_TEST_CACHE:-/var/cache/nydus-overlayfs-tests}
# The suite of the chroot (the end-to-end test sets it; the others use bookworm).
BASE_SUITE=${BASE_SUITE:-bookworm}
BASE_TAR=$CACHE/$BASE_SUITE-minbase.tgz
SERVICE_PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
# shellcheck source=tests/report.sh
source "$REPO/tests/report.sh"

# Runs the calling script in a private mount namespace with a work directory
# that is removed afterwards; call first with the script's "$@".
run_isolated() {
    if [ -n "${LIFECYCLE_WORK:-}" ]; then
        return 0
    fi
    [ "$(id -u)" -eq 0 ] || { echo "$0: needs root (chroot, mounts, dpkg)"; exit 1; }
    ensure_base_chroot
    local work status=0
    work=$(mktemp -d /tmp/nydus-overlayfs-lifecycle.XXXXXX)
    LIFECYCLE_WORK=$work unshare --mount --propagation private bash "$0" "$@" || status=$?
    if grep -qF " $work" /proc/self/mountinfo; then
        echo "$0: something is still mounted under $work; not removing it" >&2
        exit 1
    fi
    rm -rf "$work"
    exit "$status"
}

# The cached base: debootstrap minbase, apt lists fetched, and the .debs the
# tests install (fuse3, containerd) already downloaded.
ensure_base_chroot() {
    ensure_suite_chroot "$BASE_SUITE" "$BASE_TAR"
}

# ensure_suite_chroot SUITE TAR: the same for any Debian suite, cached in TAR.
ensure_suite_chroot() {
    local suite=$1 tar=$2 dir
    [ -e "$tar" ] && return 0
    dir=$(mktemp -d /tmp/nydus-overlayfs-base.XXXXXX)
    echo "lifecycle: building the cached $suite chroot $tar (once)"
    debootstrap --variant=minbase "$suite" "$dir" "$("$REPO/tools/debian-mirror")" >"$dir.log" 2>&1 ||
        { tail -n 20 "$dir.log"; exit 1; }
    cp /etc/resolv.conf "$dir/etc/resolv.conf"
    # The machine's mirror may be a snapshot whose Release files have expired:
    # the chroot's apt takes the machine's word on that.
    grep -h '^Acquire::Check-Valid-Until' /etc/apt/apt.conf.d/* >"$dir/etc/apt/apt.conf.d/99machine" || true
    chroot "$dir" apt-get update -q >/dev/null
    chroot "$dir" apt-get install -q -y --download-only fuse3 containerd runc >/dev/null
    mkdir -p "$CACHE"
    tar -C "$dir" -czf "$tar.tmp" . && mv "$tar.tmp" "$tar"
    rm -rf "$dir" "$dir.log"
}

# A fresh chroot in $ROOT with /proc mounted (mount(8) and our helper read it).
new_chroot() {
    ROOT=$LIFECYCLE_WORK/root
    mkdir -p "$ROOT"
    tar -C "$ROOT" -xzf "$BASE_TAR"
    cp /etc/resolv.conf "$ROOT/etc/resolv.conf"
    mount -t proc proc "$ROOT/proc"
}

# The environment a service gets (systemd's PATH, nothing else), as an
# env(1) command line to put before a command run in a chroot.
SERVICE_ENV=(env -i PATH="$SERVICE_PATH" HOME=/root DEBIAN_FRONTEND=noninteractive)

# Runs a command in the chroot as a service would: SERVICE_ENV, no stdin.
in_chroot() {
    chroot "$ROOT" "${SERVICE_ENV[@]}" "$@" </dev/null
}

# What the chroot holds, as paths, types, modes and link targets — apart from
# apt's and dpkg's caches, logs and backups, which every apt run changes, and
# the tests' own scratch directories (/srv, /tmp).
listing() {
    (cd "$ROOT" && find . -xdev \( -path ./proc -o -path ./dev -o -path ./run -o -path ./tmp -o -path ./srv \
        -o -path ./var/cache -o -path ./var/lib/apt -o -path ./var/log -o -name '*-old' \) -prune \
        -o -printf '%p %y %m %l\n' | LC_ALL=C sort)
}

# quietly LOG COMMAND...: runs a chatty command with its output in LOG,
# shown (the end of it) only when it fails — with the values of extraoption
# and io.katacontainers.volume hidden: containerd's own errors print them,
# and they can carry credentials.
quietly() {
    local log=$1
    shift
    "$@" >"$log" 2>&1 || {
        tail -n 40 "$log" | sed -E 's/(extraoption|io\.katacontainers\.volume)=[^ ,"]*/\1=<hidden>/g'
        return 1
    }
}

# elf_for MACHINE PATH: whether PATH (links followed) is a program for
# MACHINE as file(1) names it ("x86-64", "ARM aarch64").
elf_for() {
    file -bL "$2" | grep -qF "$1"
}

# Whether the overlay at a chroot path is mounted without nodev and nosuid.
keeps_dev_and_suid() {
    local flags
    flags=$(mount_flags "$1")
    [ -n "$flags" ] && ! grep -qE 'nodev|nosuid' <<<"$flags"
}

# Whether it is mounted nodev and nosuid (what the Go helper makes of dev,suid).
is_nodev_nosuid() {
    local flags
    flags=$(mount_flags "$1")
    grep -q nodev <<<"$flags" && grep -q nosuid <<<"$flags"
}

# The mountinfo line of a mount point inside the chroot.
mountinfo_of() {
    awk -v mp="$ROOT$1" '$5 == mp' /proc/self/mountinfo
}

# Per-mount flags and super options of the overlay at a chroot path.
mount_flags() {
    mountinfo_of "$1" | awk '{print $6}'
}

# Layers, upper and work directories and a mount point under /srv in the
# chroot, with a file in each lower layer.
make_layers() {
    mkdir -p "$ROOT"/srv/{lower1,lower2,upper,work,merged}
    echo one >"$ROOT/srv/lower1/one"
    echo two >"$ROOT/srv/lower2/two"
}

# Options as nydus-snapshotter sends them, extraoption included.
snapshot_options() {
    echo "lowerdir=/srv/lower1:/srv/lower2,upperdir=/srv/upper,workdir=/srv/work,extraoption=eyJzb3VyY2UiOiJ4In0="
}

# A Debian package file at a higher version: the same package, repacked.
repack_deb_at_version() {
    local deb=$1 version=$2 out=$3 tree
    tree=$(mktemp -d "$LIFECYCLE_WORK/repack.XXXXXX")
    dpkg-deb -R "$deb" "$tree"
    sed -i "s/^Version: .*/Version: $version/" "$tree/DEBIAN/control"
    dpkg-deb -b --root-owner-group "$tree" "$out" >/dev/null
}

# runnable_blocks DIR FILE...: the fenced blocks of the Markdown FILEs whose
# info string is "sh runnable" (docs/development.md), in order, each as
# DIR/NNN (its lines) and DIR/NNN.where (FILE:LINE of its opening fence).
runnable_blocks() {
    local dir=$1
    shift
    mkdir -p "$dir"
    awk -v dir="$dir" '
        FNR == 1 { open = 0 }
        !open && /^[ ]*```+[ ]*sh[ ]+runnable[ ]*$/ {
            open = 1; n++; out = sprintf("%s/%03d", dir, n)
            print FILENAME ":" FNR >(out ".where"); close(out ".where")
            printf "" >out
            next
        }
        open && /^[ ]*```+[ ]*$/ { open = 0; close(out); next }
        open { print >out }
    ' "$@"
}

# run_documented_commands: every runnable block of README.md and docs/*.md,
# in that order, as root in the chroot under bash -e, from /tmp/docs, where
# the .deb is under its own file name; one check each.
run_documented_commands() {
    local blocks=$LIFECYCLE_WORK/runnable block
    (cd "$REPO" && runnable_blocks "$blocks" README.md docs/*.md)
    mkdir -p "$ROOT/tmp/docs"
    cp "$DEB" "$ROOT/tmp/docs/"
    for block in "$blocks"/[0-9][0-9][0-9]; do
        echo "-- $(cat "$block.where"):"
        sed 's/^/   $ /' "$block"
        check "the commands at $(cat "$block.where") run" \
            in_chroot bash -e -o pipefail -c "cd /tmp/docs; $(cat "$block")"
    done
}
