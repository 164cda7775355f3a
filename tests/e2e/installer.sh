# shellcheck shell=bash
# Sourced by systemd-node.sh: the node-installer DaemonSet of
# contrib/kubernetes run as kubelet runs it, on the booted node, through CRI:
# its pod template read from the manifest and turned into RunPodSandbox and
# CreateContainer by tests/e2e/podspec.py (hostPath mounts and their
# propagation, securityContext, host namespaces, resources), its image (make
# image's OCI archive, both architectures) pushed to the test's registry and
# pulled with PullImage. Expects the node without our package, not
# switched, no pod running, the registry up; leaves it so, but for
# containerd's config, which declares the nydus snapshotter from here on.
#
# That declaration first, and a pause image that is a plain OCI image, as
# real nodes' is (the other steps' pause image is a Nydus one, which a node
# not switched cannot unpack). nydus-snapshotter's own deployments add
# [proxy_plugins.nydus] to containerd's config, and pods started while the
# node is switched need it once it is switched back — among them the
# cleanup DaemonSet's and an installer pod restarted on a switched node —
# for containerd to remove them (docs/kubernetes.md, Known limits).

INSTALLER_MANIFEST=$REPO/contrib/kubernetes/daemonset.yaml
CLEANUP_MANIFEST=$REPO/contrib/kubernetes/cleanup/daemonset.yaml
INSTALL_RECORD=/var/lib/nydus-overlayfs/installed.toml
# make image's OCI archive, of this version.
INSTALLER_ARCHIVE=$REPO/target/image/nydus-overlayfs-installer-$(awk -F'"' '/^version = / {print $2; exit}' "$REPO/Cargo.toml").tar

# The manifest's image (name:tag, no registry), as the registry names it
# once pushed there: what a kustomization's images: newName does.
installer_image_ref() {
    local image
    image=$(awk '$1 == "image:" {print $2; exit}' "$INSTALLER_MANIFEST")
    echo "$REGISTRY/$image"
}

# installer_pod MANIFEST DAEMONSET POD [--without-mount PATH | --arg ARG]...:
# the DaemonSet's pod, started through CRI; sets POD_ID, POD_CONTAINER,
# POD_LOG and POD_GRACE.
installer_pod() {
    local manifest=$1 daemonset=$2 name=$3 out
    shift 3
    out=$(REGISTRY_AUTH="$REGISTRY_USER:$REGISTRY_PASSWORD" cri daemonset "$manifest" "$daemonset" "$name" \
        "$POD_CGROUP" "$INSTALLER_REF" "$NODE_FS" "$@") || return 1
    read -r _ POD_ID POD_CONTAINER POD_LOG POD_GRACE <<<"$out"
}

pod_log() {
    container_output "$POD_LOG"
}

pod_logged() {
    pod_log | grep -qF -- "$1"
}

# The installer's files, as its record lists them.
recorded_files() {
    sed -n 's/^path = "\(.*\)"$/\1/p' "$ROOT$INSTALL_RECORD"
}

# Nothing installed, the configs as they were before this step.
node_untouched() {
    cmp -s "$WORK/installer-config.before.toml" "$ROOT/etc/containerd/config.toml" &&
        cmp -s "$WORK/installer-nydus.before.toml" "$ROOT/etc/nydus/config.toml" &&
        [ ! -e "$ROOT$INSTALL_RECORD" ] && [ ! -e "$ROOT/usr/local/sbin/nydus-overlayfs" ] &&
        [ ! -e "$ROOT/usr/local/sbin/nydus-overlayfs-setup" ]
}

# bad_case NAME EXPECTED [MUTATION...]: the installer pod exits non-zero
# at once with one line in its log saying EXPECTED, and changes nothing.
bad_case() {
    local name=$1 expected=$2 code
    shift 2
    check "$name: the installer pod starts through CRI" installer_pod "$INSTALLER_MANIFEST" \
        nydus-overlayfs-installer "installer-$name" "$@"
    code=$(cri wait-exit "$POD_CONTAINER")
    pod_log | sed 's/^/    log | /'
    check "$name: it exits non-zero" test "$code" != 0
    check "$name: its log has one error line, saying what to do" \
        bash -c '[ "$(grep -c "^nydus-overlayfs-setup: " <<<"$1")" = 1 ] && grep -qF -- "$2" <<<"$1"' - "$(pod_log)" "$expected"
    check "$name: nothing was installed or switched" node_untouched
    check "$name: CRI removes its pod" cri remove "$POD_ID"
}

# The node's /usr read-only, as Flatcar's is, for a pod started after.
usr_read_only() {
    node mount --bind /usr /usr && node mount -o remount,bind,ro /usr
}

installer_daemonset() {
    local snapshotter_run containerd_run code files file
    INSTALLER_REF=$(installer_image_ref)
    mkdir -p "$WORK/plain-pause"
    check "a plain OCI pause image pushed" quietly "$WORK/installer-pause.log" env \
        REGISTRY_AUTH="$REGISTRY_USER:$REGISTRY_PASSWORD" "$E2E/push-nydus-image.py" - "$WORK/rootfs" \
        "$WORK/plain-pause" "$REGISTRY" e2e/plain-pause:1 /bin/busybox sleep 2147483647
    PAUSE_IMAGE=$REGISTRY/e2e/plain-pause:1
    sed -i -E "s|^([[:space:]]*)sandbox_image = .*|\1sandbox_image = \"$PAUSE_IMAGE\"|" "$ROOT/etc/containerd/config.toml"
    check "containerd's sandbox image is it" grep -qF "sandbox_image = \"$PAUSE_IMAGE\"" "$ROOT/etc/containerd/config.toml"
    printf '\n[proxy_plugins.nydus]\n  type = "snapshot"\n  address = "%s"\n' "$SNAPSHOTTER_SOCKET" \
        >>"$ROOT/etc/containerd/config.toml"
    check "containerd restarted with the nydus snapshotter declared, as nydus-snapshotter's deployments do" \
        node systemctl restart containerd
    check "containerd's CRI plugin answers" wait_for "CRI" cri_answers
    cp "$ROOT/etc/containerd/config.toml" "$WORK/installer-config.before.toml"
    cp "$ROOT/etc/nydus/config.toml" "$WORK/installer-nydus.before.toml"
    check "the node has neither our package nor anything installed by the installer" node_untouched
    check "make image's OCI archive, both architectures, pushed to the registry as the manifest names it" \
        quietly "$WORK/installer-push.log" skopeo copy --all --dest-creds "$REGISTRY_USER:$REGISTRY_PASSWORD" \
        --dest-tls-verify=false "oci-archive:$INSTALLER_ARCHIVE" "docker://$INSTALLER_REF"
    check "PullImage pulls the pause image" quietly "$WORK/installer-pull.log" pull_image "$PAUSE_IMAGE"

    echo "--- bad cases: one line in the pod's log, a non-zero exit, nothing done"
    bad_case no-host-root "holds no node's root filesystem" --without-mount /host
    bad_case unknown-flavor "unknown flavor 'nosuch'" --arg --flavor=nosuch
    check "the node's /usr made read-only" usr_read_only
    bad_case read-only-usr "/usr/local/sbin: read-only filesystem on this node: install with --prefix"
    # Lazily: a process the node started meanwhile may hold a file under it.
    check "the node's /usr writable again" node sh -c 'umount --lazy /usr && test -w /usr/local/sbin'

    echo "--- the installer pod: install, enable --restart, wait"
    snapshotter_run=$(unit_invocation nydus-snapshotter)
    containerd_run=$(unit_invocation containerd)
    check "the installer pod starts through CRI, as the manifest says" \
        installer_pod "$INSTALLER_MANIFEST" nydus-overlayfs-installer installer-1
    check "it says it installed and switched the node, and waits" \
        wait_for "the installer's log" pod_logged "installed and switched; on SIGTERM"
    pod_log | sed 's/^/    log | /'
    check "it runs on" test "$(cri state "$POD_CONTAINER")" = CONTAINER_RUNNING
    check "status --json in the node, by the installed program, says switched" quietly "$WORK/installer-status.json" \
        node /usr/local/sbin/nydus-overlayfs-setup status --json
    check "its state is switched" grep -q '"state": "switched"' "$WORK/installer-status.json"
    check "the helper it names is the installed one" grep -q '"path": "/usr/local/sbin/nydus-overlayfs"' \
        "$WORK/installer-status.json"
    check "the installer restarted nydus-snapshotter through the node's systemd" \
        restarted_since nydus-snapshotter "$snapshotter_run"
    check "and containerd" restarted_since containerd "$containerd_run"
    check "and says so in its log" pod_logged "restarted containerd.service: "
    files=$(recorded_files)
    echo "    installed: $(tr '\n' ' ' <<<"$files")"
    check "its record lists the helper, this program, containerd's drop-ins and mount(8)'s link" bash -c \
        'for f in /usr/local/sbin/nydus-overlayfs /usr/local/sbin/nydus-overlayfs-setup /sbin/mount.fuse.nydus-overlayfs \
            /usr/local/share/nydus-overlayfs/containerd/nydus-snapshotter.toml; do grep -qx "$f" <<<"$1" || exit 1; done' - "$files"
    check "each is there" bash -c 'while read -r f; do [ -e "$2$f" ] || [ -L "$2$f" ] || exit 1; done <<<"$1"' - "$files" "$ROOT"
    check "containerd's CRI plugin answers" wait_for "CRI" cri_answers

    echo "--- a Nydus pod on the node the installer switched"
    check "PullImage pulls the probe image" quietly "$WORK/installer-pull-probe.log" pull_image "$IMAGE"
    check "a probe pod runs to its end through CRI" quietly "$WORK/installer-run.log" \
        cri run probe-installed 1 "$POD_CGROUP" "$IMAGE" "${PROBE_COMMAND[@]}"
    read -r PROBE_POD code PROBE_LOG _ <"$WORK/installer-run.log"
    check "it exited 0" test "$code" = 0
    container_output "$PROBE_LOG" >"$WORK/installer-probe.out"
    check "its / is our overlay on nydusd's RAFS, with dev, suid and exec" rootfs_is_ours "$WORK/installer-probe.out"
    check "mounted by the installed helper: the package's is gone" test ! -e "$ROOT/usr/sbin/nydus-overlayfs"
    check "CRI removes the probe pod" cri remove "$(cri pod-id probe-installed-0)"
    check "and its image (no Nydus filesystem left for the snapshotter's restart)" cri rmi "$IMAGE"

    echo "--- kubelet starts the pod again after it died without cleaning up: nothing to change"
    check "the first installer container killed (StopContainer, no grace)" quietly "$WORK/installer-kill.log" \
        cri stop "$POD_CONTAINER" 0
    check "CRI removes its pod" cri remove "$POD_ID"
    snapshotter_run=$(unit_invocation nydus-snapshotter)
    containerd_run=$(unit_invocation containerd)
    check "a second installer pod starts" installer_pod "$INSTALLER_MANIFEST" nydus-overlayfs-installer installer-2
    check "it waits" wait_for "the installer's log" pod_logged "installed and switched; on SIGTERM"
    pod_log | sed 's/^/    log | /'
    check "install changed nothing" pod_logged "already installed under /usr/local; nothing changed"
    check "nor enable" pod_logged "already switched; nothing changed"
    check "nothing was restarted" unchanged nydus-snapshotter "$snapshotter_run"
    check "containerd neither" unchanged containerd "$containerd_run"

    echo "--- the pod stopped as kubelet stops it (SIGTERM, the manifest's grace period)"
    code=$(cri stop "$POD_CONTAINER" "$POD_GRACE")
    pod_log | sed 's/^/    log | /'
    check "it exited 0" test "$code" = 0
    check "it switched the node back on SIGTERM" pod_logged "SIGTERM: switching the node back and uninstalling"
    check "containerd's config.toml is restored byte for byte" cmp "$WORK/installer-config.before.toml" "$ROOT/etc/containerd/config.toml"
    check "and nydus-snapshotter's" cmp "$WORK/installer-nydus.before.toml" "$ROOT/etc/nydus/config.toml"
    check "every installed file is gone, and the record" bash -c \
        'while read -r f; do ! [ -e "$2$f" ] && ! [ -L "$2$f" ] || exit 1; done <<<"$1"; [ ! -e "$2$3" ]' - "$files" "$ROOT" "$INSTALL_RECORD"
    check "nydus-snapshotter runs" test "$(node systemctl is-active nydus-snapshotter)" = active
    check "containerd too" test "$(node systemctl is-active containerd)" = active
    check "containerd's CRI plugin answers" wait_for "CRI" cri_answers
    check "CRI removes its pod" cri remove "$POD_ID"

    echo "--- a pod gone without its cleanup, then the cleanup DaemonSet"
    check "a third installer pod installs and switches" installer_pod "$INSTALLER_MANIFEST" nydus-overlayfs-installer installer-3
    check "it waits" wait_for "the installer's log" pod_logged "installed and switched; on SIGTERM"
    check "it is killed, without its cleanup" quietly "$WORK/installer-kill.log" cri stop "$POD_CONTAINER" 0
    check "the node is left switched and installed" bash -c '! cmp -s "$1" "$2" && [ -e "$3" ]' - \
        "$WORK/installer-config.before.toml" "$ROOT/etc/containerd/config.toml" "$ROOT$INSTALL_RECORD"
    check "CRI removes its pod" cri remove "$POD_ID"
    check "containerd's CRI plugin answers" wait_for "CRI" cri_answers
    check "the cleanup DaemonSet's pod starts through CRI, as its manifest says" \
        installer_pod "$CLEANUP_MANIFEST" nydus-overlayfs-cleanup cleanup-1
    check "it says it cleaned up, and waits" wait_for "the cleanup's log" pod_logged "cleaned up; waiting to be stopped"
    pod_log | sed 's/^/    log | /'
    check "containerd's config.toml is restored byte for byte" cmp "$WORK/installer-config.before.toml" "$ROOT/etc/containerd/config.toml"
    check "and nydus-snapshotter's" cmp "$WORK/installer-nydus.before.toml" "$ROOT/etc/nydus/config.toml"
    check "nothing installed is left" node_untouched
    check "containerd's CRI plugin answers" wait_for "CRI" cri_answers
    code=$(cri stop "$POD_CONTAINER" "$POD_GRACE")
    check "stopped, it exits 0" test "$code" = 0
    check "CRI removes its pod" cri remove "$POD_ID"
    check "and the installer image" cri rmi "$INSTALLER_REF"
    for file in "$WORK"/installer-*.log; do
        check_no_credential "$file"
    done
}
