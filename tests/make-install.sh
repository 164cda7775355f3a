#!/usr/bin/env bash
# `make install` as a builder of another distro runs it: every file where the
# directory variables say, the mount(8) registration link, and an existing
# setup.toml (the admin's) never overwritten. Run by `make test` after
# `make package` (same PREFIX, so nothing is rebuilt), against the tree
# `make package` staged for the RPM: the install rule is the one list.
set -euo pipefail
REPO=$(cd "$(dirname "$0")/.." && pwd)
source "$REPO/tests/report.sh"
dest=$(mktemp -d /tmp/nydus-overlayfs-install.XXXXXX)
trap 'rm -rf "$dest" "$dest.list" "$dest.expected"' EXIT
install_into() {
    make -C "$REPO" --no-print-directory install DESTDIR="$dest" PREFIX=/usr SBINDIR=/usr/bin \
        MOUNTHELPERDIR=/usr/sbin SYSTEMDUNITDIR=/usr/lib/systemd/system >/dev/null
}

step "make install DESTDIR=… PREFIX=/usr SBINDIR=/usr/bin MOUNTHELPERDIR=/usr/sbin"
check "make install succeeds" install_into
(cd "$dest" && find . ! -type d -printf '%p %m %l\n' | LC_ALL=C sort) >"$dest.list"
cat "$dest.list"
# Expected: the tree `make package` staged for the RPM (the same PREFIX,
# SBINDIR and SYSTEMDUNITDIR), with this layout's two differences: man pages
# not gzipped (GZIP_MAN), and the registration link (MOUNTHELPERDIR).
staged=$REPO/target/pkgroot/rpm
check "make package staged the RPM's tree" test -x "$staged/usr/bin/nydus-overlayfs"
{
    (cd "$staged" && find . ! -type d -printf '%p %m %l\n' | sed 's|^\(./usr/share/man/.*\)\.gz |\1 |')
    echo './usr/sbin/mount.fuse.nydus-overlayfs 777 ../bin/nydus-overlayfs'
} | LC_ALL=C sort >"$dest.expected"
check "exactly the staged files, modes and link" diff "$dest.expected" "$dest.list"
rm -f "$dest.list" "$dest.expected"
check "the registration link leads to the helper" test "$(readlink -f "$dest/usr/sbin/mount.fuse.nydus-overlayfs")" = "$dest/usr/bin/nydus-overlayfs"

step "A second make install keeps the admin's setup.toml"
echo 'containerd_config = "/etc/k3s/containerd.toml"' >>"$dest/etc/nydus-overlayfs/setup.toml"
check "make install again succeeds" install_into
check "the admin's line is still there" grep -qx 'containerd_config = "/etc/k3s/containerd.toml"' "$dest/etc/nydus-overlayfs/setup.toml"
finish
