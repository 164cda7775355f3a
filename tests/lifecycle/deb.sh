#!/usr/bin/env bash
# The .deb under real dpkg and apt in a Debian bookworm chroot: install, mount,
# switch the node, upgrade, remove, purge — and piuparts.
# Run by `make test` as root after `make package`.
source "$(dirname "$0")/lib.sh"
run_isolated "$@"

DEB=$(ls "$REPO"/target/debian/nydus-overlayfs_*.deb)
new_chroot
cp "$DEB" "$ROOT/tmp/nydus-overlayfs.deb"

step "A node with Debian's containerd and an upstream-style nydus-snapshotter config"
in_chroot apt-get install -q -y containerd >/dev/null
mkdir -p "$ROOT/etc/nydus"
cp "$REPO/tests/fixtures/nydus-snapshotter-config.toml" "$ROOT/etc/nydus/config.toml"
cp "$ROOT/etc/containerd/config.toml" "$LIFECYCLE_WORK/containerd-config.orig"
cp "$ROOT/etc/nydus/config.toml" "$LIFECYCLE_WORK/nydus-config.orig"
listing >"$LIFECYCLE_WORK/before-install"
check "containerd is installed and systemd does not run" \
    test -x "$ROOT/usr/bin/containerd" -a ! -d "$ROOT/run/systemd/system"

step "1. The commands README.md and docs/ show as runnable: install, switch, check, undo"
# The first installs the package (pulling fuse3, without systemd); they end
# with the node switched back.
run_documented_commands
check "containerd's config.toml is as before" cmp "$ROOT/etc/containerd/config.toml" "$LIFECYCLE_WORK/containerd-config.orig"
check "nydus-snapshotter's config.toml is as before" cmp "$ROOT/etc/nydus/config.toml" "$LIFECYCLE_WORK/nydus-config.orig"
check "fuse3 came with it" in_chroot dpkg-query -W -f='${Status}' fuse3
for file in /usr/sbin/nydus-overlayfs:755 /usr/sbin/nydus-overlayfs-setup:755 \
    /etc/nydus-overlayfs/setup.toml:644 /usr/share/nydus-overlayfs/containerd/nydus-snapshotter.toml:644 \
    /lib/systemd/system/containerd.service.d/nydus-overlayfs.conf:644 \
    /usr/lib/modules-load.d/nydus-overlayfs.conf:644 /usr/share/man/man8/nydus-overlayfs.8.gz:644; do
    check "${file%:*} is there with mode ${file#*:}" test "$(stat -c %a "$ROOT${file%:*}")" = "${file#*:}"
done
check "mount.fuse.nydus-overlayfs resolves to the helper" \
    test "$(chroot "$ROOT" readlink -f /sbin/mount.fuse.nydus-overlayfs)" = /usr/sbin/nydus-overlayfs
check "the node was not switched (no opt-in)" cmp -s "$ROOT/etc/containerd/config.toml" "$LIFECYCLE_WORK/containerd-config.orig"

step "2. Real overlay mounts through the chroot's mount.fuse and mount(8)"
make_layers
check "mount.fuse ... -t nydus-overlayfs with extraoption mounts" \
    in_chroot /sbin/mount.fuse overlay /srv/merged -o "$(snapshot_options)" -t nydus-overlayfs
check "mountinfo shows an overlay" test "$(mountinfo_of /srv/merged | awk '{print $(NF-2)}')" = overlay
check "without nodev or nosuid" keeps_dev_and_suid /srv/merged
check "both layers are visible" test -e "$ROOT/srv/merged/one" -a -e "$ROOT/srv/merged/two"
check "unmount" in_chroot umount /srv/merged
check "mount -t fuse.nydus-overlayfs works through the registration" \
    in_chroot mount -t fuse.nydus-overlayfs overlay /srv/merged -o "$(snapshot_options)"
check "again an overlay without nodev or nosuid" keeps_dev_and_suid /srv/merged
check "unmount" in_chroot umount /srv/merged

step "3. Switching the node: explicit enable, config dump, dpkg --verify, disable"
check "enable switches both files" in_chroot nydus-overlayfs-setup enable
in_chroot containerd --config /etc/containerd/config.toml config dump >"$LIFECYCLE_WORK/dump"
for line in '[proxy_plugins.nydus]' 'snapshotter = "nydus"' 'bin_dir = "/usr/lib/cni"' 'conf_dir = "/etc/cni/net.d"'; do
    check "config dump has: $line" grep -qxF "$line" <(sed 's/^ *//' "$LIFECYCLE_WORK/dump")
done
check "dpkg --verify containerd reports only config.toml" \
    test "$(in_chroot dpkg --verify containerd | awk '{print $NF}')" = /etc/containerd/config.toml
in_chroot nydus-overlayfs-setup status >"$LIFECYCLE_WORK/status" || true
check "status: containerd (1.6) uses the nydus snapshotter" grep -qxE 'containerd\.version: 1\.6\.[0-9]+' "$LIFECYCLE_WORK/status"
check "status: containerd switched, by nydus-overlayfs-setup" grep -qx 'containerd.switched_by: nydus-overlayfs-setup' "$LIFECYCLE_WORK/status"
check "status: nydus-snapshotter switched" grep -qx 'nydus_snapshotter.switched: true' "$LIFECYCLE_WORK/status"
check "status: containerd's PATH runs our helper" grep -qx 'containerd_path_lookup.found: /usr/sbin/nydus-overlayfs' "$LIFECYCLE_WORK/status"
check "status: whose PATH that is" grep -qx "containerd_path_lookup.search_path_of: systemd's default for services" "$LIFECYCLE_WORK/status"
check "a second enable changes nothing" bash -c "chroot '$ROOT' nydus-overlayfs-setup enable | grep -qx 'already switched; nothing changed'"
check "disable" in_chroot nydus-overlayfs-setup disable
check "containerd's config.toml is byte-identical again" cmp "$ROOT/etc/containerd/config.toml" "$LIFECYCLE_WORK/containerd-config.orig"
check "nydus-snapshotter's config.toml is byte-identical again" cmp "$ROOT/etc/nydus/config.toml" "$LIFECYCLE_WORK/nydus-config.orig"
check "dpkg --verify containerd is clean" test -z "$(in_chroot dpkg --verify containerd)"

step "   The opt-in: the package switches the node itself"
touch "$ROOT/etc/nydus-overlayfs/enable-on-install"
check "dpkg-reconfigure (the postinst) switches the node" in_chroot dpkg-reconfigure nydus-overlayfs
check "containerd's config.toml is switched" grep -q 'snapshotter = "nydus"' "$ROOT/etc/containerd/config.toml"

step "   Every maintainer script run twice in a row (as after a failed dpkg run) leaves the same state"
# Our files, both config files and the journal, with their contents' hashes.
node_state() {
    # Some of these are absent in some states: find's complaint is not an error.
    (cd "$ROOT" && { find etc/containerd etc/nydus etc/nydus-overlayfs var/lib/nydus-overlayfs \
        usr/sbin/mount.fuse.nydus-overlayfs 2>/dev/null || true; } | LC_ALL=C sort | while read -r f; do
        printf '%s %s\n' "$f" "$([ -f "$f" ] && md5sum <"$f" | cut -d' ' -f1)"
    done)
}
for script in "postinst configure" "prerm remove" "postinst configure"; do
    name=${script% *} argument=${script#* }
    check "$script under sh -e" in_chroot sh -e "/var/lib/dpkg/info/nydus-overlayfs.$name" "$argument"
    node_state >"$LIFECYCLE_WORK/state-once"
    check "$script again under sh -e" in_chroot sh -e "/var/lib/dpkg/info/nydus-overlayfs.$name" "$argument"
    node_state >"$LIFECYCLE_WORK/state-twice"
    check "$script twice leaves the state once leaves" cmp "$LIFECYCLE_WORK/state-once" "$LIFECYCLE_WORK/state-twice"
done
check "with the opt-in, the node is switched again" grep -q 'snapshotter = "nydus"' "$ROOT/etc/containerd/config.toml"

step "4. Upgrade keeps an edited conffile without asking, and the node switched"
echo '# edited by the admin' >>"$ROOT/etc/nydus-overlayfs/setup.toml"
cp "$ROOT/etc/nydus-overlayfs/setup.toml" "$LIFECYCLE_WORK/setup.edited"
repack_deb_at_version "$DEB" 0.1.0-2 "$ROOT/tmp/nydus-overlayfs-upgrade.deb"
check "apt-get install of the higher version succeeds without a prompt" \
    in_chroot apt-get install -q -y /tmp/nydus-overlayfs-upgrade.deb
check "the new version is installed" test "$(in_chroot dpkg-query -W -f='${Version}' nydus-overlayfs)" = 0.1.0-2
check "the admin's edit survived" cmp "$ROOT/etc/nydus-overlayfs/setup.toml" "$LIFECYCLE_WORK/setup.edited"
check "the node is still switched" grep -q 'snapshotter = "nydus"' "$ROOT/etc/containerd/config.toml"

step "5. Remove restores the node; purge leaves nothing of ours"
check "apt-get remove" in_chroot apt-get remove -q -y nydus-overlayfs
check "containerd's config.toml is as before enable" cmp "$ROOT/etc/containerd/config.toml" "$LIFECYCLE_WORK/containerd-config.orig"
check "nydus-snapshotter's config.toml is as before enable" cmp "$ROOT/etc/nydus/config.toml" "$LIFECYCLE_WORK/nydus-config.orig"
check "the helper is gone" test ! -e "$ROOT/usr/sbin/nydus-overlayfs"
check "apt-get purge --autoremove" in_chroot apt-get purge -q -y --autoremove nydus-overlayfs
listing >"$LIFECYCLE_WORK/after-purge"
echo "-- listing before install vs after purge (paths, types, modes, link targets):"
diff "$LIFECYCLE_WORK/before-install" "$LIFECYCLE_WORK/after-purge" && echo "(identical: $(wc -l <"$LIFECYCLE_WORK/after-purge") entries)"
check "the chroot is as it was before install" cmp -s "$LIFECYCLE_WORK/before-install" "$LIFECYCLE_WORK/after-purge"

step "Alongside Debian's own nydus-snapshotter (its Go helper is /usr/bin/nydus-overlayfs)"
SNAPSHOTTER_DEB=$(ls "$CACHE"/sid/debs/nydus-snapshotter_*.deb)
cp "$SNAPSHOTTER_DEB" "$ROOT/tmp/nydus-snapshotter.deb"
check "Debian's nydus-snapshotter installs" in_chroot apt-get install -q -y /tmp/nydus-snapshotter.deb
check "ours installs beside it without a file conflict" in_chroot apt-get install -q -y /tmp/nydus-overlayfs.deb
check "both helpers are there" test -x "$ROOT/usr/bin/nydus-overlayfs" -a -x "$ROOT/usr/sbin/nydus-overlayfs"
in_chroot nydus-overlayfs-setup status --json >"$LIFECYCLE_WORK/status.json" || true
check "status: nydus-snapshotter 0.13.4, from dpkg (its own --version says 'unknown')" \
    grep -qzE '"version": "0\.13\.4",[[:space:]]+"version_from": "dpkg"' "$LIFECYCLE_WORK/status.json"
check "mount.fuse on containerd's PATH mounts" \
    in_chroot /sbin/mount.fuse overlay /srv/merged -o "$(snapshot_options)" -t nydus-overlayfs
echo "-- mountinfo: $(mountinfo_of /srv/merged | cut -d' ' -f5-)"
check "and the rootfs keeps dev and suid: our helper ran, not the Go one" keeps_dev_and_suid /srv/merged
check "unmount" in_chroot umount /srv/merged
# The same call with /usr/bin first on PATH reaches the Go helper, which the
# check above tells apart: it makes the overlay nodev,nosuid.
check "(control: the Go helper, found first, mounts)" chroot "$ROOT" env -i PATH=/usr/bin:/usr/sbin:/bin:/sbin \
    /sbin/mount.fuse overlay /srv/merged -o "$(snapshot_options)" -t nydus-overlayfs
echo "-- mountinfo: $(mountinfo_of /srv/merged | cut -d' ' -f5-)"
check "(control: and its overlay is nodev,nosuid)" is_nodev_nosuid /srv/merged
check "unmount" in_chroot umount /srv/merged
umount "$ROOT/proc"

step "piuparts: install and purge, and install-remove-install"
piuparts_args=(--basetgz "$BASE_TAR" --mirror "$("$REPO/tools/debian-mirror") main" --distribution bookworm
    --tmpdir "$LIFECYCLE_WORK")
check "piuparts (install, purge, leftovers)" quietly "$LIFECYCLE_WORK/piuparts.log" piuparts "${piuparts_args[@]}" "$DEB"
check "piuparts --install-remove-install" quietly "$LIFECYCLE_WORK/piuparts-iri.log" \
    piuparts "${piuparts_args[@]}" --install-remove-install "$DEB"
finish
