#!/usr/bin/env bash
# The arm64 .deb under the arm64 dpkg and apt of a Debian bookworm arm64
# chroot, every program in it run by qemu-aarch64-static (tests/arm64/lib.sh:
# binfmt_misc in a private user namespace): install pulls fuse3 and registers
# the type, a mount through the chroot's own arm64 mount.fuse, the node
# switched and restored byte for byte, and purge leaves nothing.
# The mounts are made by this machine's (amd64) kernel: see docs/packages.md, Architectures.
# Run by `make test-arm64` (and so `make test`) as root after `make package ARCH=arm64`.
source "$(dirname "$0")/lib.sh"
run_emulated "$@"

DEB=$(ls "$REPO"/target/arm64/debian/nydus-overlayfs_*_arm64.deb)
cp "$DEB" "$ROOT/tmp/nydus-overlayfs.deb"

step "An arm64 node with Debian's containerd and an upstream-style nydus-snapshotter config"
check "the chroot's programs are arm64 (dpkg --print-architecture, run under qemu)" \
    test "$(in_chroot dpkg --print-architecture)" = arm64
check "apt-get install containerd (arm64)" quietly "$LIFECYCLE_WORK/containerd.log" \
    in_chroot apt-get install -q -y containerd
mkdir -p "$ROOT/etc/nydus"
cp "$REPO/tests/fixtures/nydus-snapshotter-config.toml" "$ROOT/etc/nydus/config.toml"
cp "$ROOT/etc/containerd/config.toml" "$LIFECYCLE_WORK/containerd-config.orig"
cp "$ROOT/etc/nydus/config.toml" "$LIFECYCLE_WORK/nydus-config.orig"
listing >"$LIFECYCLE_WORK/before-install"

step "apt-get install ./nydus-overlayfs_*_arm64.deb"
check "apt-get install succeeds" quietly "$LIFECYCLE_WORK/install.log" in_chroot apt-get install -q -y /tmp/nydus-overlayfs.deb
check "fuse3 came with it" test "$(in_chroot dpkg-query -W -f='${Status}' fuse3)" = "install ok installed"
check "the installed helper is arm64" elf_for "ARM aarch64" "$ROOT/usr/sbin/nydus-overlayfs"
check "so is the chroot's mount.fuse" elf_for "ARM aarch64" "$ROOT/sbin/mount.fuse"
check "mount.fuse.nydus-overlayfs resolves to the helper" \
    test "$(chroot "$ROOT" readlink -f /sbin/mount.fuse.nydus-overlayfs)" = /usr/sbin/nydus-overlayfs
check "the node was not switched (no opt-in)" cmp -s "$ROOT/etc/containerd/config.toml" "$LIFECYCLE_WORK/containerd-config.orig"

step "Mounts through the chroot's own arm64 mount.fuse and mount(8)"
make_layers
check "mount.fuse ... -t nydus-overlayfs with extraoption mounts" \
    in_chroot /sbin/mount.fuse overlay /srv/merged -o "$(snapshot_options)" -t nydus-overlayfs
echo "-- mountinfo: $(mountinfo_of /srv/merged | cut -d' ' -f5-)"
check "mountinfo shows an overlay" test "$(mountinfo_of /srv/merged | awk '{print $(NF-2)}')" = overlay
check "both layers are visible" test -e "$ROOT/srv/merged/one" -a -e "$ROOT/srv/merged/two"
check "unmount" in_chroot umount /srv/merged
check "mount -t fuse.nydus-overlayfs works through the registration" \
    in_chroot mount -t fuse.nydus-overlayfs overlay /srv/merged -o "$(snapshot_options)"
check "again an overlay" test "$(mountinfo_of /srv/merged | awk '{print $(NF-2)}')" = overlay
check "unmount" in_chroot umount /srv/merged

step "Switching the node: enable, config dump by the arm64 containerd, disable"
check "enable switches both files" quietly "$LIFECYCLE_WORK/enable.log" in_chroot nydus-overlayfs-setup enable
# (Under qemu containerd reads this machine's /proc/cpuinfo, finds no arm64
# CPU variant there and says so on stderr: kept out of the way.)
in_chroot containerd --config /etc/containerd/config.toml config dump >"$LIFECYCLE_WORK/dump" 2>"$LIFECYCLE_WORK/dump.err"
for line in '[proxy_plugins.nydus]' 'snapshotter = "nydus"' 'bin_dir = "/usr/lib/cni"'; do
    check "config dump has: $line" grep -qxF "$line" <(sed 's/^ *//' "$LIFECYCLE_WORK/dump")
done
check "disable" quietly "$LIFECYCLE_WORK/disable.log" in_chroot nydus-overlayfs-setup disable
check "containerd's config.toml is byte-identical again" cmp "$ROOT/etc/containerd/config.toml" "$LIFECYCLE_WORK/containerd-config.orig"
check "nydus-snapshotter's config.toml is byte-identical again" cmp "$ROOT/etc/nydus/config.toml" "$LIFECYCLE_WORK/nydus-config.orig"
check "dpkg --verify containerd is clean" test -z "$(in_chroot dpkg --verify containerd)"

step "Purge leaves nothing of ours"
check "enable again (purge must restore the node)" quietly "$LIFECYCLE_WORK/enable-2.log" in_chroot nydus-overlayfs-setup enable
check "apt-get purge --autoremove" quietly "$LIFECYCLE_WORK/purge.log" in_chroot apt-get purge -q -y --autoremove nydus-overlayfs
check "containerd's config.toml is as before" cmp "$ROOT/etc/containerd/config.toml" "$LIFECYCLE_WORK/containerd-config.orig"
listing >"$LIFECYCLE_WORK/after-purge"
diff "$LIFECYCLE_WORK/before-install" "$LIFECYCLE_WORK/after-purge" && echo "-- (listing identical: $(wc -l <"$LIFECYCLE_WORK/after-purge") entries)"
check "the chroot is as it was before install" cmp -s "$LIFECYCLE_WORK/before-install" "$LIFECYCLE_WORK/after-purge"
umount "$ROOT/proc"
finish
