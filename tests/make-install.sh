#!/usr/bin/env bash
# `make install` as a builder of another distro runs it: every file where the
# directory variables say, the mount(8) registration link, and an existing
# setup.toml (the admin's) never overwritten. Run by `make test` after
# `make package` (same PREFIX, so nothing is rebuilt).
set -euo pipefail
REPO=$(cd "$(dirname "$0")/.." && pwd)
source "$REPO/tests/report.sh"
dest=$(mktemp -d /tmp/nydus-overlayfs-install.XXXXXX)
trap 'rm -rf "$dest"' EXIT
install_into() {
    make -C "$REPO" --no-print-directory install DESTDIR="$dest" PREFIX=/usr SBINDIR=/usr/bin \
        MOUNTHELPERDIR=/usr/sbin SYSTEMDUNITDIR=/usr/lib/systemd/system >/dev/null
}

step "make install DESTDIR=… PREFIX=/usr SBINDIR=/usr/bin MOUNTHELPERDIR=/usr/sbin"
check "make install succeeds" install_into
(cd "$dest" && find . ! -type d -printf '%p %m %l\n' | LC_ALL=C sort) >"$dest.list"
cat "$dest.list"
check "exactly the expected files, modes and link" diff - "$dest.list" <<'LIST'
./etc/nydus-overlayfs/setup.toml 644 
./usr/bin/nydus-overlayfs 755 
./usr/bin/nydus-overlayfs-setup 755 
./usr/lib/modules-load.d/nydus-overlayfs.conf 644 
./usr/lib/systemd/system/containerd.service.d/nydus-overlayfs.conf 644 
./usr/sbin/mount.fuse.nydus-overlayfs 777 ../bin/nydus-overlayfs
./usr/share/bash-completion/completions/nydus-overlayfs-setup 644 
./usr/share/doc/nydus-overlayfs/README.md 644 
./usr/share/fish/vendor_completions.d/nydus-overlayfs-setup.fish 644 
./usr/share/licenses/nydus-overlayfs/LICENSE 644 
./usr/share/man/man8/mount.fuse.nydus-overlayfs.8 644 
./usr/share/man/man8/nydus-overlayfs-setup.8 644 
./usr/share/man/man8/nydus-overlayfs.8 644 
./usr/share/nydus-overlayfs/containerd/nydus-cri.toml 644 
./usr/share/nydus-overlayfs/containerd/nydus-snapshotter.toml 644 
./usr/share/zsh/site-functions/_nydus-overlayfs-setup 644 
LIST
rm -f "$dest.list"
check "the registration link leads to the helper" test "$(readlink -f "$dest/usr/sbin/mount.fuse.nydus-overlayfs")" = "$dest/usr/bin/nydus-overlayfs"

step "A second make install keeps the admin's setup.toml"
echo 'containerd_config = "/etc/k3s/containerd.toml"' >>"$dest/etc/nydus-overlayfs/setup.toml"
check "make install again succeeds" install_into
check "the admin's line is still there" grep -qx 'containerd_config = "/etc/k3s/containerd.toml"' "$dest/etc/nydus-overlayfs/setup.toml"
finish
