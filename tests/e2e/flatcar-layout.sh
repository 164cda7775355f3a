# shellcheck shell=bash
# Sourced by systemd-node.sh: the booted node laid out as Flatcar runs
# containerd, then switched and switched back by nydus-overlayfs-setup, with
# the node's real systemd. Flatcar's containerd.service (its containerd
# sysext) sets Environment=CONTAINERD_CONFIG=/usr/share/containerd/config.toml
# and runs `containerd --config ${CONTAINERD_CONFIG}`; /usr is read-only
# there. enable must leave that file alone, write a switched copy in /etc and
# a unit drop-in pointing the variable at it, reload systemd and restart
# containerd onto the copy; disable must remove both and restart containerd
# onto /usr's file again. Expects no pod on the node, and the node switched
# in its Debian layout; leaves it so.

FLATCAR_UNIT=/etc/systemd/system/containerd.service
FLATCAR_CONFIG=/usr/share/containerd/config.toml
OUR_UNIT_DROP_IN=/etc/systemd/system/containerd.service.d/10-nydus-overlayfs.conf

# The file the running containerd was started with (its --config).
containerd_runs_with() {
    local pid
    pid=$(node systemctl show -p MainPID --value containerd)
    [ "$pid" != 0 ] && node cat "/proc/$pid/cmdline" | tr '\0' '\n' | grep -A1 -x -- --config | tail -n 1
}

runs_with() {
    [ "$(node systemctl is-active containerd)" = active ] && [ "$(containerd_runs_with)" = "$1" ]
}

flatcar_layout() {
    check "disable --restart, back to the Debian layout's original" quietly "$WORK/flatcar-disable-first.log" \
        node nydus-overlayfs-setup disable --restart
    # Flatcar's unit, as its sysext ships it (tests/flavors/flatcar), with
    # Debian's containerd program and config moved under /usr.
    mkdir -p "$ROOT/usr/share/containerd"
    mv "$ROOT/etc/containerd/config.toml" "$ROOT$FLATCAR_CONFIG"
    cp "$ROOT$FLATCAR_CONFIG" "$WORK/flatcar-config.before.toml"
    sed -e '/^ExecStartPre=/d' "$REPO/tests/flavors/flatcar/root/usr/lib/systemd/system/containerd.service" \
        >"$ROOT$FLATCAR_UNIT"
    check "systemctl daemon-reload; restart containerd (Flatcar's unit)" node sh -c \
        'systemctl daemon-reload && systemctl restart containerd'
    check "containerd runs with $FLATCAR_CONFIG" runs_with "$FLATCAR_CONFIG"

    check "enable --restart" quietly "$WORK/flatcar-enable.log" node nydus-overlayfs-setup enable --restart
    sed 's/^/    /' "$WORK/flatcar-enable.log"
    check "it wrote the switched copy" grep -qx "switched /etc/containerd/config.toml" "$WORK/flatcar-enable.log"
    check "and the unit drop-in" grep -qx "switched $OUR_UNIT_DROP_IN" "$WORK/flatcar-enable.log"
    check "it left $FLATCAR_CONFIG alone" cmp "$WORK/flatcar-config.before.toml" "$ROOT$FLATCAR_CONFIG"
    check "systemd took the drop-in (daemon-reload)" bash -c 'grep -qF "$1" <<<"$2"' - "$OUR_UNIT_DROP_IN" \
        "$(node systemctl show containerd -p DropInPaths --value)"
    check "containerd was restarted onto the copy" runs_with /etc/containerd/config.toml
    check "status names the flavor and says switched" quietly "$WORK/flatcar-status.log" \
        node nydus-overlayfs-setup status
    check "(flavor flatcar)" grep -qx 'flavor.name: flatcar' "$WORK/flatcar-status.log"
    check "containerd's CRI plugin answers" wait_for "CRI" cri_answers

    # CRI appends to a log path it wrote before: the first pod's goes.
    rm -rf "$ROOT/var/log/pods/probe-0"
    run_probe_pod
    check "the pod's / is our overlay on nydusd's RAFS, with dev, suid and exec" rootfs_is_ours "$WORK/probe.out"
    check "CRI removes the pod" quietly "$WORK/flatcar-teardown.log" cri teardown

    check "disable --restart" quietly "$WORK/flatcar-disable.log" node nydus-overlayfs-setup disable --restart
    sed 's/^/    /' "$WORK/flatcar-disable.log"
    check "it removed the copy" test ! -e "$ROOT/etc/containerd/config.toml"
    check "and the unit drop-in" test ! -e "$ROOT$OUR_UNIT_DROP_IN"
    check "containerd runs with $FLATCAR_CONFIG again" runs_with "$FLATCAR_CONFIG"

    # The Debian layout again, switched, for the package's removal.
    rm "$ROOT$FLATCAR_UNIT"
    mv "$ROOT$FLATCAR_CONFIG" "$ROOT/etc/containerd/config.toml"
    check "the Debian layout again: daemon-reload, enable --restart" quietly "$WORK/flatcar-back.log" \
        node sh -c 'systemctl daemon-reload && nydus-overlayfs-setup enable --restart'
    check "containerd runs with its default config again (no --config)" runs_with ""
}
