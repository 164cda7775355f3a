#!/usr/bin/env bash
# The image-builder recipe of docs/fleets.md, step by step: a root filesystem
# from debootstrap, containerd and nydus-snapshotter's config in it, the
# opt-in, then the package installed with apt in the chroot. The image comes
# out switched, and is checked offline for what a booted node would see.
# Run by make test.
source "$(dirname "$0")/../lifecycle/lib.sh"
run_isolated "$@"

DEB=$(ls "$REPO"/target/debian/nydus-overlayfs_*.deb)
# debootstrap --variant=minbase bookworm "$ROOT" <mirror> (cached by the test library)
new_chroot

step "Build the image: containerd, nydus-snapshotter's config, the opt-in, then our package"
in_chroot apt-get install -q -y containerd >/dev/null
mkdir -p "$ROOT/etc/nydus" "$ROOT/etc/nydus-overlayfs"
cp "$REPO/tests/fixtures/nydus-snapshotter-config.toml" "$ROOT/etc/nydus/config.toml"
touch "$ROOT/etc/nydus-overlayfs/enable-on-install"
cp "$DEB" "$ROOT/tmp/"
check "apt-get install in the chroot succeeds" in_chroot apt-get install -q -y "/tmp/$(basename "$DEB")"
rm "$ROOT/tmp/$(basename "$DEB")"
umount "$ROOT/proc"

step "What a booted node would see, checked offline"
check "status --root on the image: switched (exit 0)" \
    "$ROOT/usr/sbin/nydus-overlayfs-setup" --root "$ROOT" --helper /usr/sbin/nydus-overlayfs status
check "containerd's config dump in the image shows the nydus plugin and snapshotter" \
    bash -c "chroot '$ROOT' containerd --config /etc/containerd/config.toml config dump |
        grep -q '^  \[proxy_plugins.nydus\]' && chroot '$ROOT' containerd --config /etc/containerd/config.toml config dump |
        grep -q 'snapshotter = \"nydus\"'"
check "nydus-snapshotter's config enables nydus-overlayfs" grep -qx 'enable_nydus_overlayfs = true' "$ROOT/etc/nydus/config.toml"
check "systemd will order containerd after nydus-snapshotter" \
    grep -qx 'After=nydus-snapshotter.service' "$ROOT/lib/systemd/system/containerd.service.d/nydus-overlayfs.conf"
check "systemd will load overlayfs at boot" grep -qx overlay "$ROOT/usr/lib/modules-load.d/nydus-overlayfs.conf"
check "mount(8) will find the helper" test "$(chroot "$ROOT" readlink -f /sbin/mount.fuse.nydus-overlayfs)" = /usr/sbin/nydus-overlayfs
check "the journal is there, so disable on the booted node restores the originals" \
    test -s "$ROOT/var/lib/nydus-overlayfs/containerd-config/original"
finish
