#!/usr/bin/env bash
# The .rpm under real rpm (--root, so its scriptlets run in the chroot's shell)
# in a Debian bookworm chroot: install with the admin's opt-in made beforehand,
# mount through the registration the post-install makes, upgrade with an
# edited %config(noreplace) file, erase. Run by `make test` as root after
# `make package`.
# NYDUS_OVERLAYFS_TEST_ARCH=arm64 (make test-arm64, after make package
# ARCH=arm64): the aarch64 RPM the same way, in the arm64 chroot of
# tests/arm64/lib.sh, where its scriptlets, the helper and mount(8) run under
# qemu-user (the host's rpm installs it, hence --ignorearch).
ARCH=${NYDUS_OVERLAYFS_TEST_ARCH:-$(dpkg --print-architecture)}
case $ARCH in
amd64)
    source "$(dirname "$0")/lib.sh"
    run_isolated "$@"
    new_chroot
    OUT=target RPM_ARCH=x86_64 ELF_ARCH=x86-64 RPM_ARGS=()
    ;;
arm64)
    source "$(dirname "$0")/../arm64/lib.sh"
    run_emulated "$@"
    OUT=target/arm64 RPM_ARCH=aarch64 ELF_ARCH="ARM aarch64" RPM_ARGS=(--ignorearch)
    ;;
*) echo "$0: no RPM test for architecture '$ARCH'; NYDUS_OVERLAYFS_TEST_ARCH must be amd64 or arm64" >&2; exit 2 ;;
esac

RPM=$(ls "$REPO/$OUT"/generate-rpm/nydus-overlayfs-*."$RPM_ARCH".rpm)
# Debian's chroot has no RPM-world packages to satisfy dependencies with.
rpm_install() {
    rpm --root "$ROOT" --nodeps "${RPM_ARGS[@]}" "$@"
}
rpm_erase() {
    rpm --root "$ROOT" --nodeps -e "$@"
}
rpm_query() {
    rpm --root "$ROOT" "$@"
}

step "A node with mount.fuse (fuse), containerd and nydus-snapshotter's config, opted in"
in_chroot apt-get install -q -y fuse3 containerd >/dev/null
mkdir -p "$ROOT/etc/nydus" "$ROOT/etc/nydus-overlayfs"
cp "$REPO/tests/fixtures/nydus-snapshotter-config.toml" "$ROOT/etc/nydus/config.toml"
cp "$ROOT/etc/containerd/config.toml" "$LIFECYCLE_WORK/containerd-config.orig"
cp "$ROOT/etc/nydus/config.toml" "$LIFECYCLE_WORK/nydus-config.orig"
rpm --root "$ROOT" --initdb
# On Fedora and RHEL these exist already, owned by systemd and filesystem.
mkdir -p "$ROOT/usr/lib/modules-load.d" "$ROOT/usr/share/licenses"
listing >"$LIFECYCLE_WORK/before-install"
touch "$ROOT/etc/nydus-overlayfs/enable-on-install"
check "an empty rpm database" test -z "$(rpm_query -qa)"

step "Install: the post-install registers the type and, opted in, switches the node"
check "rpm -i succeeds" rpm_install -i "$RPM"
check "the helper is /usr/bin/nydus-overlayfs, mode 755" test "$(stat -c %a "$ROOT/usr/bin/nydus-overlayfs")" = 755
check "built for $RPM_ARCH ($ELF_ARCH)" elf_for "$ELF_ARCH" "$ROOT/usr/bin/nydus-overlayfs"
check "/sbin/mount.fuse.nydus-overlayfs was made and leads to it" \
    test "$(readlink "$ROOT/sbin/mount.fuse.nydus-overlayfs")" = /usr/bin/nydus-overlayfs
check "setup.toml is %config(noreplace)" test "$(rpm_query -q --configfiles nydus-overlayfs)" = /etc/nydus-overlayfs/setup.toml
check "containerd's config.toml was switched" grep -q 'snapshotter = "nydus"' "$ROOT/etc/containerd/config.toml"
check "nydus-snapshotter's config.toml was switched" grep -q 'enable_nydus_overlayfs = true' "$ROOT/etc/nydus/config.toml"

step "A real mount through the registration"
make_layers
check "mount -t fuse.nydus-overlayfs mounts" in_chroot mount -t fuse.nydus-overlayfs overlay /srv/merged -o "$(snapshot_options)"
echo "-- mountinfo: $(mountinfo_of /srv/merged | cut -d' ' -f5-)"
check "an overlay without nodev or nosuid" keeps_dev_and_suid /srv/merged
check "both layers are visible" test -e "$ROOT/srv/merged/one" -a -e "$ROOT/srv/merged/two"
check "unmount" in_chroot umount /srv/merged

step "Upgrade keeps the edited %config(noreplace) file, the registration and the switch"
echo '# edited by the admin' >>"$ROOT/etc/nydus-overlayfs/setup.toml"
cp "$ROOT/etc/nydus-overlayfs/setup.toml" "$LIFECYCLE_WORK/setup.edited"
mkdir -p "$LIFECYCLE_WORK/upgrade"
(cd "$REPO" && cargo generate-rpm --metadata-overwrite "$OUT/rpm-metadata.toml" --arch "$RPM_ARCH" \
    --set-metadata 'release = "2"' -o "$LIFECYCLE_WORK/upgrade/") >/dev/null
check "rpm -U to release 2 succeeds" rpm_install -U "$LIFECYCLE_WORK"/upgrade/nydus-overlayfs-*.rpm
check "release 2 is installed" test "$(rpm_query -q --qf '%{RELEASE}' nydus-overlayfs)" = 2
check "the admin's edit survived" cmp "$ROOT/etc/nydus-overlayfs/setup.toml" "$LIFECYCLE_WORK/setup.edited"
check "no .rpmnew was needed" test ! -e "$ROOT/etc/nydus-overlayfs/setup.toml.rpmnew"
check "the registration is still there" test -L "$ROOT/sbin/mount.fuse.nydus-overlayfs"
check "the node is still switched" grep -q 'snapshotter = "nydus"' "$ROOT/etc/containerd/config.toml"

step "Erase: the node switched back, the registration and every file of ours gone"
rm "$ROOT/etc/nydus-overlayfs/enable-on-install"
check "rpm -e succeeds" rpm_erase nydus-overlayfs
check "containerd's config.toml is as before" cmp "$ROOT/etc/containerd/config.toml" "$LIFECYCLE_WORK/containerd-config.orig"
check "nydus-snapshotter's config.toml is as before" cmp "$ROOT/etc/nydus/config.toml" "$LIFECYCLE_WORK/nydus-config.orig"
check "the registration link is gone" test ! -e "$ROOT/sbin/mount.fuse.nydus-overlayfs" -a ! -L "$ROOT/sbin/mount.fuse.nydus-overlayfs"
listing >"$LIFECYCLE_WORK/after-erase"
echo "-- listing before install vs after erase (paths, types, modes, link targets):"
diff "$LIFECYCLE_WORK/before-install" "$LIFECYCLE_WORK/after-erase" || true
# rpm keeps an edited config file as .rpmsave on erase, by design: the admin's
# edit is theirs. That file is the only difference allowed.
check "nothing of ours is left but the admin's saved edit" \
    test "$(diff "$LIFECYCLE_WORK/before-install" "$LIFECYCLE_WORK/after-erase" | grep '^[<>]')" = \
    "> ./etc/nydus-overlayfs/setup.toml.rpmsave f 644 "
check "and it holds the admin's edit" cmp "$ROOT/etc/nydus-overlayfs/setup.toml.rpmsave" "$LIFECYCLE_WORK/setup.edited"
umount "$ROOT/proc"
finish
