#!/usr/bin/env bash
# End to end on a node that boots systemd, as a real node does: a fresh copy
# of a cached bookworm tree with systemd, booted by `systemd-nspawn --boot`.
# apt installs containerd and runc (containerd starts as its package's
# service), sid's nydus-snapshotter runs as a service of the admin's
# (tests/e2e/nydus-snapshotter.service), and our .deb is installed with the
# admin's opt-in file present, so that its postinst switches the node. Then
# `nydus-overlayfs-setup disable --restart` and `enable --restart` restart
# both services through systemctl, the package's ordering drop-in must be in
# effect, and a pod runs through CRI with the checks of tests/e2e/run.sh.
# Then the node is live (docs/restarts.md): a reader pod keeps reading files
# of its Nydus image while the node is switched again, back and forth with
# upstream's KillMode=process and with systemd's control-group (where the
# snapshotter's restart is refused), the package reinstalled, a new pod run,
# and the package removed (refused, then done); it must never miss a read.
# A control step restarts the snapshotter regardless and must see reads fail.
# Last, without our package, the node-installer DaemonSet of contrib/kubernetes
# runs as kubelet would run it (tests/e2e/installer.sh), from make image's
# OCI archive: installed, switched, a Nydus pod, stopped, cleaned up.
# The only place where --restart, the drop-in and the install-time switch
# meet a real systemd. Run by tests/e2e/run.sh as the suite
# "bookworm-systemd" (make test-e2e SUITES=bookworm-systemd), as root.
# Skipped, with the reason, where this machine cannot boot such a node.
# E2E_NOT_SWITCHED=snapshotter puts nydus-snapshotter's config back after
# enable --restart (CRI chooses nydus, but the helper is never called): the
# rootfs checks must then fail. E2E_LOG_DIR=DIR keeps the logs, the node's
# journal and the strace log there; they hold this run's throwaway registry
# password.
set -euo pipefail
BASE_SUITE=bookworm
source "$(dirname "$0")/../lifecycle/lib.sh"
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/flatcar-layout.sh"
source "$(dirname "$0")/installer.sh"
# The cached tree: bookworm minbase with systemd as init (made from the
# lifecycle tests' cached chroot, once).
NODE_TAR=$CACHE/bookworm-systemd.tgz

# This process's cgroup in each hierarchy, as directories: cgroup v1
# controllers, v1 name=systemd and cgroup2.
own_cgroups() {
    local id controllers path mountpoint
    while IFS=: read -r id controllers path; do
        if [ -z "$controllers" ]; then
            mountpoint=$(awk '$3 == "cgroup2" {print $2; exit}' /proc/self/mounts)
        else
            mountpoint=$(awk -v c="${controllers%%,*}" '$3 == "cgroup" && ("," $4 ",") ~ ("," c ",") {print $2; exit}' /proc/self/mounts)
        fi
        [ -z "$mountpoint" ] || echo "$mountpoint${path%/}"
    done </proc/self/cgroup
}

if [ -z "${LIFECYCLE_WORK:-}" ]; then
    echo "=== e2e node: Debian bookworm, booted with systemd"
    command -v systemd-nspawn >/dev/null ||
        skip "systemd-nspawn is not installed (Debian's systemd-container; make deps-e2e installs it)"
    [ -c /dev/fuse ] || skip "no /dev/fuse: nydusd in the node needs FUSE"
    awk '$3 == "cgroup" && $4 ~ /(^|,)cpu(,|$)/' /proc/self/mounts | grep -q . ||
        skip "no cgroup v1 cpu controller: this test's node is made for a host with v1 controllers (see the README)"
    require_e2e_parts "$INSTALLER_ARCHIVE"
fi
run_isolated "$@"

WORK=$LIFECYCLE_WORK
ROOT=$WORK/root
DEB=$(ls "$REPO"/target/debian/nydus-overlayfs_*.deb)
SNAPSHOTTER_DEB=$(ls "$CACHE"/sid/debs/nydus-snapshotter_*.deb)
# The node's cgroups, one below this process's in each hierarchy, made by
# this test (nspawn puts itself and the node below them) and removed at the
# end: the pods' cgroups (cgroupfs driver, containerd's default, under the
# cgroup parent POD_CGROUP in the node's cgroup namespace) are inside them.
NODE_CGROUP=nydus-e2e-node-$$
mapfile -t NODE_CGROUPS < <(own_cgroups | sed "s|\$|/$NODE_CGROUP|")
POD_CGROUP=/nydus-e2e-pods
NODE_MACHINE=nydus-e2e-$$
# Whether /run/systemd/nspawn, which nspawn makes on the host, was there
# before: if not, it goes at the end.
NSPAWN_RUN_DIR_WAS_THERE=$([ -e /run/systemd/nspawn ] && echo yes || echo no)
STRACE_PID=
NSPAWN_PID=
LEADER=
LIVE_STEPS=0

# The cached tree, made once from the lifecycle tests' bookworm chroot:
# systemd as init, without D-Bus (nothing here needs it, and its daemon
# never finishes starting in this sandbox: it may not raise its open-files
# limit nor watch its config directory, and the boot never reaches running).
ensure_node_tree() {
    [ -e "$NODE_TAR" ] && return 0
    local tree=$WORK/tree
    echo "e2e: building the cached bookworm tree with systemd $NODE_TAR (once)"
    mkdir -p "$tree"
    tar -C "$tree" -xzf "$BASE_TAR"
    mount -t proc proc "$tree/proc"
    chroot "$tree" "${SERVICE_ENV[@]}" apt-get install -q -y --no-install-recommends systemd systemd-sysv \
        >"$WORK/tree.log" 2>&1 </dev/null || { umount "$tree/proc"; tail -n 20 "$WORK/tree.log"; return 1; }
    umount "$tree/proc"
    tar -C "$tree" -czf "$NODE_TAR.tmp" . && mv "$NODE_TAR.tmp" "$NODE_TAR"
    rm -rf "$tree"
}

# A fresh copy of the tree with what the test brings: the two .debs in
# /srv/debs, nydusd and nydus-image in /usr/local, the snapshotter's unit.
make_node() {
    NODE_FS=$ROOT
    mkdir -p "$ROOT"
    tar -C "$ROOT" -xzf "$NODE_TAR"
    cp /etc/resolv.conf "$ROOT/etc/resolv.conf"
    add_hosts_file
    mkdir -p "$ROOT/srv/debs"
    cp "$DEB" "$SNAPSHOTTER_DEB" "$ROOT/srv/debs/"
    install_nydus_tools
    install -m 644 "$E2E/nydus-snapshotter.service" "$ROOT/etc/systemd/system/nydus-snapshotter.service"
}

# Boots the node in the background, in the node's own cgroups; LEADER is its
# systemd (pid 1 inside). No systemd runs this machine: --register=no and
# --keep-unit keep nspawn from asking one for a machine or a scope (so no
# DeviceAllow= applies either: /dev/fuse, bound in, is usable as it is here).
# --system-call-filter=@keyring: runc gives each container a session
# keyring, and nspawn's seccomp filter refuses the keyring calls by default.
boot_node() {
    local cgroup
    (
        for cgroup in "${NODE_CGROUPS[@]}"; do
            mkdir "$cgroup"
            # A v1 cpuset cgroup takes no process until it has CPUs and memory nodes.
            if [ -e "$cgroup/cpuset.cpus" ]; then
                cat "$cgroup/../cpuset.cpus" >"$cgroup/cpuset.cpus"
                cat "$cgroup/../cpuset.mems" >"$cgroup/cpuset.mems"
            fi
            echo "$BASHPID" >"$cgroup/cgroup.procs"
        done
        exec systemd-nspawn --boot --directory="$ROOT" --machine="$NODE_MACHINE" --register=no --keep-unit \
            --bind=/dev/fuse --system-call-filter=@keyring
    ) >"$WORK/boot.log" 2>&1 </dev/null &
    NSPAWN_PID=$!
    wait_for "the node's systemd to start" node_leader_started
    LEADER=$(node_leader)
    NODE_PID_NS=$(readlink "/proc/$LEADER/ns/pid")
    NODE_FS=/proc/$LEADER/root
}

# nspawn mounts the v1 controllers read-only in the node (they are the
# host's), where containerd's runc makes each pod's cgroups: made writable
# in the node's mount namespace only, below the node's own cgroups (its
# cgroup namespace). A real node's are writable.
open_node_cgroups() {
    node sh -c 'for dir in /sys/fs/cgroup/*/; do
        [ "$(stat -fc %T "$dir")" != cgroupfs ] || mount -o remount,bind,rw "$dir" || exit 1
    done'
}

node_leader() {
    cat "/proc/$NSPAWN_PID/task/"*/children 2>/dev/null | awk '{print $1}'
}

node_leader_started() {
    local pid
    pid=$(node_leader)
    [ -n "$pid" ] && [ "$(readlink "/proc/$pid/exe" 2>/dev/null)" = /usr/lib/systemd/systemd ]
}

# node COMMAND...: runs a command in the booted node (all its namespaces,
# hence its root) with a service's environment and no stdin.
node() {
    nsenter --target "$LEADER" --all "${SERVICE_ENV[@]}" "$@" </dev/null
}

# The pids of the processes in the node's pid namespace.
node_processes() {
    [ -n "${NODE_PID_NS:-}" ] || return 0
    local link
    for link in /proc/[0-9]*/ns/pid; do
        [ "$(readlink "$link" 2>/dev/null)" = "$NODE_PID_NS" ] && basename "$(dirname "$(dirname "$link")")"
    done
    return 0
}

# The mountinfo line of a path in the node, from its systemd's view.
node_mountinfo_of() {
    awk -v mp="$1" '$5 == mp' "/proc/$LEADER/mountinfo"
}

# Whether the node's systemd is done starting up (is-system-running --wait
# would need D-Bus, which this node has not).
node_booted() {
    local state
    state=$(node systemctl is-system-running 2>/dev/null || true)
    [ -n "$state" ] && [ "$state" != initializing ] && [ "$state" != starting ]
}

# unit_invocation UNIT: the id of the unit's current run (a restart makes a
# new one).
unit_invocation() {
    node systemctl show -p InvocationID --value "$1"
}

# restarted_since UNIT ID: whether UNIT runs, in another run than ID.
restarted_since() {
    [ "$(node systemctl is-active "$1")" = active ] && [ "$(unit_invocation "$1")" != "$2" ]
}

# setup_restarts ACTION LOG: nydus-overlayfs-setup ACTION --restart, then
# the checks that it restarted both services (each in a new run) and said so.
setup_restarts() {
    local snapshotter containerd
    snapshotter=$(unit_invocation nydus-snapshotter)
    containerd=$(unit_invocation containerd)
    check "nydus-overlayfs-setup $1 --restart" quietly "$2" node nydus-overlayfs-setup "$1" --restart
    sed 's/^/    /' "$2"
    check "it says it restarted both services, each for a file it reads" \
        bash -c 'grep -q "^restarted nydus-snapshotter.service: .* changed since it started$" "$1" &&
            grep -q "^restarted containerd.service: .* changed since it started$" "$1"' - "$2"
    check "systemd restarted nydus-snapshotter" restarted_since nydus-snapshotter "$snapshotter"
    check "and containerd" restarted_since containerd "$containerd"
}

# The reader: a pod whose container keeps reading two files of its Nydus
# image (lazily served by nydusd, through our overlay) every 0.2 s, and
# appends one line per round to /tmp/reads in its rootfs, through a
# descriptor opened once (so the log outlives its filesystem's lower layer):
# "N TIME ok SUMS" or "N TIME FAIL ERROR". The file is in the snapshot's
# upper directory, read from the node: containerd's restarts do not touch it.
READER_COMMAND=(/bin/busybox sh -c 'trap "exit 0" TERM; cat /proc/self/mountinfo; exec 3>>/tmp/reads; n=0
while :; do
    n=$((n + 1))
    if s=$(/bin/busybox md5sum /bin/busybox /bin/euid 2>&1); then r=ok; else r=FAIL; fi
    echo "$n $(/bin/busybox date +%T) $r" $s >&3
    /bin/busybox sleep 0.2
done')

# start_reader NAME: starts a reader pod and waits for its first reads; sets
# READER_POD, READER_CONTAINER, READS (its log, from here), READER_SUMS (its
# first round's checksums) and READER_NYDUSD (the nydusd serving it).
start_reader() {
    local out=$WORK/$1.start
    READER_NAME=$1
    check "a reader pod, $1, starts through CRI" quietly "$out" cri start "$1" "$POD_CGROUP" "$IMAGE" "${READER_COMMAND[@]}"
    read -r _ READER_POD READER_CONTAINER READER_LOG <"$out"
    check "it printed its mountinfo" wait_for "the reader's mountinfo" reader_printed_root
    container_output "$READER_LOG" >"$WORK/$1.mountinfo"
    check "its / is our overlay on a nydusd's FUSE mount" rootfs_is_ours "$WORK/$1.mountinfo"
    local super_options
    super_options=$(awk '$5 == "/" {print $NF}' "$WORK/$1.mountinfo" | tr , '\n')
    READS=$NODE_FS$(sed -n 's/^upperdir=//p' <<<"$super_options")/tmp/reads
    READER_NYDUSD=$(nydusd_of_reader)
    MARK=0
    check "it reads" wait_for "the reader's first reads" reads_since 3
    READER_SUMS=$(awk 'NR == 1 && $3 == "ok" {$1 = $2 = $3 = ""; print substr($0, 4)}' "$READS")
    echo "reader $1: nydusd pid $READER_NYDUSD, first round: $(head -n 1 "$READS")"
    check "its first round read both files" test -n "$READER_SUMS"
}

snapshotter_answers() {
    cri images >/dev/null 2>&1
}

reader_printed_root() {
    container_output "$READER_LOG" 2>/dev/null | awk '$5 == "/"' | grep -q .
}

# The pid (in the node) of the nydusd whose FUSE mount is at this node path.
nydusd_of() {
    local pid
    for pid in $(node_processes); do
        if tr '\0' ' ' <"/proc/$pid/cmdline" | grep -q "^/usr/local/libexec/nydusd .*--mountpoint $1 "; then
            awk '/^NSpid:/ {print $NF}' "/proc/$pid/status"
            return 0
        fi
    done
    return 1
}

# reads_since N: the reader's log has N rounds.
reads_since() {
    [ -e "$READS" ] && [ "$(wc -l <"$READS")" -ge "$1" ]
}

# The reader's log from the round before MARK (a step's start) to round
# $1 (default: the last).
show_reads() {
    sed -n "$((MARK > 1 ? MARK - 1 : 1)),${1:-\$}p" "$READS" | sed "s/^/    reader | /"
}

invocations() {
    echo "nydus-snapshotter $(unit_invocation nydus-snapshotter), containerd $(unit_invocation containerd)"
}

# live_step NAME EXIT COMMAND...: one step on the live node: the units'
# InvocationIDs and the reader's log around it, COMMAND's output, and that
# it ended with EXIT. Sets SNAPSHOTTER_RUN and CONTAINERD_RUN (the
# InvocationIDs before) and STEP_LOG.
live_step() {
    local name=$1 expected=$2 rc=0
    shift 2
    STEP_LOG=$WORK/live-$((++LIVE_STEPS)).log
    SNAPSHOTTER_RUN=$(unit_invocation nydus-snapshotter)
    CONTAINERD_RUN=$(unit_invocation containerd)
    MARK=$(wc -l <"$READS")
    echo "--- $name (at $(date +%T))"
    echo "    InvocationID before: $(invocations)"
    node "$@" >"$STEP_LOG" 2>&1 || rc=$?
    { grep -v '^\(Reading\|Building\|Selecting\|Preparing\|Unpacking\|Setting up\|Processing\|(Reading\|Removing\)' "$STEP_LOG" || true; } |
        sed 's/^/    | /'
    echo "    exit status $rc"
    echo "    InvocationID after:  $(invocations)"
    check "$name: exit status $expected" test "$rc" = "$expected"
}

# reads_survive WHAT: the reader's container still runs and reads on past
# the step (5 more rounds), no read ever failed, and every round returned
# the same checksums (the last line aside: it may be being written).
reads_survive() {
    local after
    after=$(wc -l <"$READS")
    check "$1: the reader reads on (5 more rounds after it)" wait_for "5 more rounds" reads_since $((after + 5))
    show_reads $((after + 5))
    check "$1: the reader's container still runs" test "$(cri state "$READER_CONTAINER")" = CONTAINER_RUNNING
    check "$1: no read failed" bash -c '! grep -q "^[0-9]* [0-9:]* FAIL" "$1"' - "$READS"
    check "$1: every round returned the same checksums" \
        test "$(sed '$d' "$READS" | awk '{$1 = $2 = $3 = ""; print substr($0, 4)}' | sort -u)" = "$READER_SUMS"
    check "$1: the same nydusd serves it" test "$(nydusd_of_reader)" = "$READER_NYDUSD"
}

nydusd_of_reader() {
    nydusd_of "$(awk '$5 == "/" {print $NF}' "$WORK/$READER_NAME.mountinfo" | tr , '\n' | sed -n 's/^lowerdir+=//p')" || echo none
}

# A round failed, or the container stopped.
reads_failed() {
    grep -q "^[0-9]* [0-9:]* FAIL" "$READS" || [ "$(cri state "$READER_CONTAINER" 2>/dev/null)" != CONTAINER_RUNNING ]
}

# unchanged UNIT RUN: the unit runs in the same run (InvocationID) as before.
unchanged() {
    [ "$(unit_invocation "$1")" = "$2" ]
}

# kill_mode MODE: the snapshotter's unit with KillMode=MODE, as its drop-in
# says (upstream's unit has process; without it, systemd's control-group).
kill_mode() {
    local dir=$ROOT/etc/systemd/system/nydus-snapshotter.service.d
    if [ "$1" = process ]; then
        mkdir -p "$dir" && printf '[Service]\nKillMode=process\n' >"$dir/kill-mode.conf"
    else
        rm -f "$dir/kill-mode.conf"
    fi
    node systemctl daemon-reload && [ "$(node systemctl show -p KillMode --value nydus-snapshotter)" = "$1" ]
}

# status_field PATH...: a field of status --json (python3's repr).
status_field() {
    node nydus-overlayfs-setup status --json >"$WORK/status.json" || true
    python3 -c 'import json, sys
v = json.load(open(sys.argv[1]))
for k in sys.argv[2:]:
    v = v[k]
print(v)' "$WORK/status.json" "$@"
}

# descendant_named PID NAME: the first process named NAME below PID.
descendant_named() {
    local child
    for child in $(cat "/proc/$1/task/"*/children 2>/dev/null); do
        if [ "$(cat "/proc/$child/comm" 2>/dev/null)" = "$2" ]; then
            echo "$child"
            return 0
        fi
        descendant_named "$child" "$2" && return 0
    done
    return 1
}

# The node's cgroups, deepest first.
node_cgroups() {
    local cgroup
    for cgroup in "${NODE_CGROUPS[@]}"; do
        [ ! -d "$cgroup" ] || find "$cgroup" -depth -type d
    done
}

node_is_down() {
    stopped "$NSPAWN_PID" && { [ -z "$LEADER" ] || stopped "$LEADER"; }
}

# Powers the node off as systemd does (SIGRTMIN+4 to its pid 1: every service
# stopped, every mount unmounted); SIGKILL to nspawn and the node's pid 1
# (which ends every process in the node) if it is not down 60 s later.
power_off_node() {
    [ -n "$NSPAWN_PID" ] || return 0
    [ -z "$LEADER" ] || kill -RTMIN+4 "$LEADER" 2>/dev/null || true
    local tries=600
    until node_is_down; do
        tries=$((tries - 1))
        if [ "$tries" -le 0 ]; then
            echo "e2e: the node did not power off in 60 s; killing it" >&2
            kill -9 "$NSPAWN_PID" ${LEADER:+"$LEADER"} 2>/dev/null || true
            wait_for "the node to end" node_is_down || true
            break
        fi
        sleep 0.1
    done
    wait "$NSPAWN_PID" 2>/dev/null || true
}

# Keeps the logs if asked (the node's journal with them), removes the pods
# through CRI if a failure left any (systemd's shutdown waits 90 s for a pod's
# pause process, and does not kill it), then stops everything this test
# started, by pid, and removes the node's cgroups and what nspawn made in /run.
teardown() {
    if [ -n "$LEADER" ] && ! stopped "$LEADER"; then
        node journalctl --no-pager -o short-iso >"$WORK/journal.log" 2>&1 || true
        ! cri_answers || cri teardown >/dev/null 2>&1 || true
    fi
    [ -z "${E2E_LOG_DIR:-}" ] || cp "$WORK"/*.log "$WORK/trace" "$E2E_LOG_DIR/" 2>/dev/null || true
    [ -z "$STRACE_PID" ] || stop_by_pid strace "$STRACE_PID"
    STRACE_PID=
    power_off_node
    [ -z "${REGISTRY_PID:-}" ] || stop_by_pid registry "$REGISTRY_PID"
    REGISTRY_PID=
    node_cgroups | xargs -r rmdir 2>/dev/null || true
    # What nspawn leaves in /run when it was killed: its lock on the tree and
    # the directory it propagates mounts into the node through.
    [ ! -d "$ROOT" ] || rm -f "/run/systemd/nspawn/locks/inode-$(stat -c %d:%i "$ROOT")"
    rmdir "/run/systemd/nspawn/propagate/$NODE_MACHINE" 2>/dev/null || true
    [ "$NSPAWN_RUN_DIR_WAS_THERE" = yes ] || find /run/systemd/nspawn -depth -type d -empty -delete 2>/dev/null || true
}

trap teardown EXIT
generate_cri_stubs

step "1. A bookworm tree with systemd, booted by systemd-nspawn"
check "the cached tree with systemd is there (made once)" ensure_node_tree
make_node
boot_node
echo "$(node systemctl --version | head -n 1) is pid 1 of the node (host pid $LEADER); cgroup $(node stat -fc %T /sys/fs/cgroup)"
wait_for "the node to boot" node_booted || true
echo "systemctl is-system-running: $(node systemctl is-system-running || true)"
check "the node's systemd reaches running" test "$(node systemctl is-system-running)" = running
check "with no failed unit" test -z "$(node systemctl --failed --plain --no-legend)"
check "the node's cgroup v1 controllers made writable for runc" open_node_cgroups

step "2. A registry on loopback with the Nydus images: the probe and the pause image"
start_registry
quietly "$WORK/push.log" push_images

step "3. apt installs containerd, runc and sid's nydus-snapshotter in the booted node"
check "apt-get install containerd runc nydus-snapshotter (and strace, for the test)" quietly "$WORK/apt.log" \
    node sh -c 'apt-get install -q -y --no-install-recommends containerd runc strace /srv/debs/nydus-snapshotter_*.deb'
echo "containerd $(node containerd --version | awk '{print $3}'), runc $(node runc --version | awk 'NR == 1 {print $3}')"
check "containerd runs as its package's service" test "$(node systemctl is-active containerd)" = active

step "4. The admin's configs, the snapshotter's service, then our .deb with the opt-in file"
write_admin_configs node
# Upstream's config (misc/snapshotter/config.toml) leaves the nydusd running
# when the snapshotter stops, so that a restart takes them over.
sed -i 's/^cleanup_on_close = true$/cleanup_on_close = false/' "$ROOT/etc/nydus/config.toml"
check "the snapshotter's config has cleanup_on_close = false, as upstream's" \
    grep -qx 'cleanup_on_close = false' "$ROOT/etc/nydus/config.toml"
cp "$ROOT/etc/nydus/config.toml" "$WORK/nydus-config.before.toml"
check "systemctl enable --now nydus-snapshotter" quietly "$WORK/snapshotter-unit.log" \
    node systemctl enable --now nydus-snapshotter
check "systemctl restart containerd (the admin's config)" node systemctl restart containerd
mkdir -p "$ROOT/etc/nydus-overlayfs"
: >"$ROOT/etc/nydus-overlayfs/enable-on-install"
check "apt-get install nydus-overlayfs, with /etc/nydus-overlayfs/enable-on-install present" \
    quietly "$WORK/install.log" node sh -c 'apt-get install -q -y --no-install-recommends /srv/debs/nydus-overlayfs_*.deb'
grep '^nydus-overlayfs-setup:' "$WORK/install.log" | sed 's/^/    /'
check "its postinst switched the node (status says switched)" quietly "$WORK/status.log" node nydus-overlayfs-setup status
check "containerd's config.toml was changed" bash -c '! cmp -s "$1" "$2"' - "$WORK/config.before.toml" "$ROOT/etc/containerd/config.toml"
AFTER=$(node systemctl show containerd -p After)
echo "systemctl show containerd -p After: $AFTER"
echo "systemctl show containerd -p DropInPaths: $(node systemctl show containerd -p DropInPaths --value)"
# (/usr/lib on a merged-/usr system, where the package's /lib leads)
check "the package's drop-in is loaded" bash -c 'grep -qE "(^| )(/usr)?/lib/systemd/system/containerd.service.d/nydus-overlayfs.conf( |$)" <<<"$1"' - \
    "$(node systemctl show containerd -p DropInPaths --value)"
check "containerd is ordered after nydus-snapshotter" bash -c 'grep -qw nydus-snapshotter.service <<<"$1"' - "$AFTER"

step "5. --restart: disable and enable again, each restarting both services through systemctl"
setup_restarts disable "$WORK/disable-restart.log"
check "disable put containerd's config.toml back byte for byte" cmp "$WORK/config.before.toml" "$ROOT/etc/containerd/config.toml"
setup_restarts enable "$WORK/enable-restart.log"
check "status says switched" quietly "$WORK/status-again.log" node nydus-overlayfs-setup status
if [ "${E2E_NOT_SWITCHED:-}" = snapshotter ]; then
    echo "E2E_NOT_SWITCHED=snapshotter: nydus-snapshotter's config put back (CRI uses nydus, the helper is not asked)"
    cp "$WORK/nydus-config.before.toml" "$ROOT/etc/nydus/config.toml"
    check "systemctl restart nydus-snapshotter" node systemctl restart nydus-snapshotter
fi
check "containerd's CRI plugin answers" wait_for "CRI" cri_answers

step "6. containerd under strace (attached in the node), then a pod through CRI only"
# In the node, so that the pids strace records are those the traced
# processes see (clone's results are in the node's pid namespace).
CONTAINERD_PID=$(node systemctl show -p MainPID --value containerd)
node strace -f -qq -s 64 -o /srv/trace -e trace=execve,clone,clone3,fork,vfork,write,writev,exit_group \
    -p "$CONTAINERD_PID" &
STRACE_PID=$!
check "strace is attached to containerd" wait_for "strace to attach" \
    node sh -c '! grep -qx "TracerPid:[[:space:]]*0" "/proc/$1/status"' - "$CONTAINERD_PID"
run_probe_pod

step "7. Inside the pod: / is our overlay on nydusd, with dev, suid and exec"
check_probe_pod "$WORK/probe.out"

step "8. Outside: how the helper was called, and that it printed nothing"
cp "$ROOT/srv/trace" "$WORK/trace"
check_helper_calls "$WORK/trace" 2 containerd

# strace leaves containerd (it would follow every shim and container started
# from here on, and outlive containerd's restarts with them).
# SIGTERM makes strace detach and end (nsenter, between, would not pass
# the signal on).
STRACE_CHILD=$(descendant_named "$STRACE_PID" strace || true)
check "strace, started by this test, is found below it" test -n "$STRACE_CHILD"
kill "$STRACE_CHILD"
check "strace detached from containerd" wait_for "strace to end" stopped "$STRACE_PID"
wait "$STRACE_PID" 2>/dev/null || true
STRACE_PID=

step "9. A live node: a pod keeps reading its Nydus image while the node is switched, again and back"
start_reader reader-1
check "status: both services run with the current config" \
    test "$(status_field services nydus_snapshotter runs_current_config) $(status_field services containerd runs_current_config)" = "True True"
live_step "enable --restart on the switched node" 0 nydus-overlayfs-setup enable --restart
check "it changed nothing" grep -qx 'already switched; nothing changed' "$STEP_LOG"
check "it restarted nothing: the same nydus-snapshotter run" unchanged nydus-snapshotter "$SNAPSHOTTER_RUN"
check "and the same containerd run" unchanged containerd "$CONTAINERD_RUN"
reads_survive "enable --restart on the switched node"

step "10. Upstream's unit (KillMode=process, cleanup_on_close = false): disable --restart, enable --restart"
check "the snapshotter's unit has KillMode=process (a drop-in)" kill_mode process
for action in disable enable; do
    live_step "$action --restart" 0 nydus-overlayfs-setup "$action" --restart
    check "$action: systemd restarted nydus-snapshotter" restarted_since nydus-snapshotter "$SNAPSHOTTER_RUN"
    check "$action: and containerd" restarted_since containerd "$CONTAINERD_RUN"
    reads_survive "$action --restart with KillMode=process"
done

step "11. systemd's default KillMode=control-group: the snapshotter's restart refused, containerd's done"
check "the snapshotter's unit has KillMode=control-group" kill_mode control-group
BREAKS=$(status_field services nydus_snapshotter restart_would_break_containers)
echo "status: services.nydus_snapshotter.restart_would_break_containers: $BREAKS"
check "status says a restart of nydus-snapshotter would break running containers" grep -q 'KillMode=control-group' <<<"$BREAKS"
for action in disable enable; do
    live_step "$action --restart" 5 nydus-overlayfs-setup "$action" --restart
    check "$action: one line says the snapshotter's restart was refused, why and what to do" \
        grep -qx 'nydus-overlayfs-setup: not restarting nydus-snapshotter.service: stopping it would take down the .*Nydus filesystems\? under /var/lib/containerd-nydus that running containers read from (KillMode=control-group kills the nydusd in its cgroup (.*)); drain the node first, or set KillMode=process in the unit.*, or pass --break-running-containers' "$STEP_LOG"
    check "$action: nydus-snapshotter was not restarted" unchanged nydus-snapshotter "$SNAPSHOTTER_RUN"
    check "$action: containerd was" restarted_since containerd "$CONTAINERD_RUN"
    check "$action: and it says so" grep -q '^restarted containerd.service: ' "$STEP_LOG"
    reads_survive "$action --restart with KillMode=control-group"
done
check "status: nydus-snapshotter still needs a restart (its config changed since it started)" \
    test "$(status_field services nydus_snapshotter runs_current_config)" = False
check "and containerd does not" test "$(status_field services containerd runs_current_config)" = True

step "12. apt-get install --reinstall of the package, with enable-on-install: nothing restarted"
live_step "apt-get install --reinstall nydus-overlayfs" 0 \
    sh -c 'apt-get install -q -y --reinstall --no-install-recommends /srv/debs/nydus-overlayfs_*.deb'
check "it restarted nothing: the same nydus-snapshotter run" unchanged nydus-snapshotter "$SNAPSHOTTER_RUN"
check "and the same containerd run" unchanged containerd "$CONTAINERD_RUN"
check "it says which services read changed files and what to run" \
    grep -q "^nydus-overlayfs-setup: .* read files changed since they started: run 'nydus-overlayfs-setup enable --restart'" "$STEP_LOG"
reads_survive "apt-get install --reinstall"

step "13. A new pod on the switched node: its rootfs mounted by our helper"
MARK=$(wc -l <"$READS")
check "RunPodSandbox, CreateContainer and StartContainer run a new probe pod to its end" quietly "$WORK/run-after.log" \
    cri run probe-after 1 "$POD_CGROUP" "$IMAGE" "${PROBE_COMMAND[@]}"
read -r _ EXIT_CODE LOG_PATH _ <"$WORK/run-after.log"
check "the container exited 0" test "$EXIT_CODE" = 0
container_output "$LOG_PATH" >"$WORK/probe-after.out"
check "its / is our overlay (lowerdir+=, as our helper mounts) on a nydusd's FUSE mount" rootfs_is_ours "$WORK/probe-after.out"
reads_survive "a new pod"

step "14. apt-get remove with the control-group unit: refused, nothing changed"
cp "$ROOT/etc/containerd/config.toml" "$WORK/config.switched.toml"
live_step "apt-get remove nydus-overlayfs" 100 apt-get remove -q -y nydus-overlayfs
check "the package's prerm says why, in one line" \
    grep -q "^nydus-overlayfs-setup: not removing nydus-overlayfs: nydus-snapshotter.service must restart .*KillMode=control-group.*; drain the node first" "$STEP_LOG"
check "the package is still installed" test "$(node dpkg-query -W -f '${Status}' nydus-overlayfs)" = "install ok installed"
check "the node is still switched" cmp "$WORK/config.switched.toml" "$ROOT/etc/containerd/config.toml"
check "nothing was restarted: the same nydus-snapshotter run" unchanged nydus-snapshotter "$SNAPSHOTTER_RUN"
check "and the same containerd run" unchanged containerd "$CONTAINERD_RUN"
reads_survive "apt-get remove, refused"

step "15. Control: systemctl restart nydus-snapshotter with the control-group unit breaks the reader"
live_step "systemctl restart nydus-snapshotter" 0 systemctl restart nydus-snapshotter
check "the reader's reads fail (the check above can fail)" wait_for "a failed read" reads_failed
show_reads $((MARK + 6))
grep -m 1 "^[0-9]* [0-9:]* FAIL" "$READS" | sed 's/^/    first failed round: /' || true
echo "    reader container: $(cri state "$READER_CONTAINER" 2>&1)"
check "CRI removes the broken reader's pod" quietly "$WORK/remove-reader-1.log" cri remove "$READER_POD"
# The restarted snapshotter first "recovers" the dead nydusd (upstream's
# logic; seconds), and answers nothing meanwhile; containerd's connection to
# it stays in its dial backoff: restarted (safe for running containers).
check "nydus-snapshotter answers again" wait_for "nydus-snapshotter to answer" snapshotter_answers
check "systemctl restart containerd (its connection to the snapshotter)" node systemctl restart containerd
check "containerd's CRI plugin answers" wait_for "CRI" cri_answers

step "16. apt-get remove with upstream's unit: switched back, both restarted, the reader reads on"
start_reader reader-2
check "the snapshotter's unit has KillMode=process" kill_mode process
live_step "apt-get remove nydus-overlayfs" 0 apt-get remove -q -y nydus-overlayfs
check "the package is removed" test "$(node dpkg-query -W -f '${Status}' nydus-overlayfs 2>/dev/null || true)" != "install ok installed"
check "its prerm restored containerd's config.toml byte for byte" cmp "$WORK/config.before.toml" "$ROOT/etc/containerd/config.toml"
check "and nydus-snapshotter's config.toml" cmp "$WORK/nydus-config.before.toml" "$ROOT/etc/nydus/config.toml"
check "it restarted nydus-snapshotter" restarted_since nydus-snapshotter "$SNAPSHOTTER_RUN"
check "and containerd" restarted_since containerd "$CONTAINERD_RUN"
reads_survive "apt-get remove"
echo "systemctl show containerd -p After: $(node systemctl show containerd -p After)"
check "its postrm had systemd forget the drop-in" test -z "$(node systemctl show containerd -p DropInPaths --value)"
check "containerd is no longer ordered after nydus-snapshotter" bash -c '! grep -qw nydus-snapshotter.service <<<"$1"' - \
    "$(node systemctl show containerd -p After)"
# The node no longer does Nydus through containerd (its config is the
# admin's again): a Nydus pod is refused by containerd, not mounted broken.
MARK=$(wc -l <"$READS")
if cri run after-removal 1 "$POD_CGROUP" "$IMAGE" "${PROBE_COMMAND[@]}" >"$WORK/run-after-removal.log" 2>&1; then
    echo "    a new pod ran: $(cat "$WORK/run-after-removal.log")"
    read -r _ EXIT_CODE _ _ <"$WORK/run-after-removal.log"
    check "a new pod after removal ran to its end, exit 0" test "$EXIT_CODE" = 0
else
    sed 's/^/    a new pod: /' "$WORK/run-after-removal.log"
    check "a new pod after removal is refused with containerd's reason, never a mount of nydus-overlayfs" \
        bash -c '! grep -qiE "nydus-overlayfs|mount" "$1" && grep -q " failed " "$1"' - "$WORK/run-after-removal.log"
fi
reads_survive "a new pod after removal"

step "17. The package again, then teardown through CRI"
# CRI needs the nydus snapshotter back to remove the reader's snapshots.
MARK=$(wc -l <"$READS")
check "apt-get install nydus-overlayfs (enable-on-install switches the node)" quietly "$WORK/install-again.log" \
    node sh -c 'apt-get install -q -y --no-install-recommends /srv/debs/nydus-overlayfs_*.deb'
check "enable --restart restarts both, safely (KillMode=process)" quietly "$WORK/enable-again.log" \
    node nydus-overlayfs-setup enable --restart
sed 's/^/    /' "$WORK/enable-again.log"
check "containerd's CRI plugin answers" wait_for "CRI" cri_answers
reads_survive "the package again"
check "CRI stops and removes every container and pod, and removes the images" quietly "$WORK/teardown.log" cri teardown

step "18. The node laid out as Flatcar runs containerd (config under /usr): switched and back through its unit"
flatcar_layout

step "19. apt-get remove of the idle node's package"
check "the snapshotter's unit back to KillMode=control-group" kill_mode control-group
check "apt-get remove nydus-overlayfs (no container runs: nothing to refuse)" quietly "$WORK/remove.log" \
    node apt-get remove -q -y nydus-overlayfs
grep '^nydus-overlayfs-setup:' "$WORK/remove.log" | sed 's/^/    /'
check "its prerm restored containerd's config.toml byte for byte" cmp "$WORK/config.before.toml" "$ROOT/etc/containerd/config.toml"
check "and nydus-snapshotter's config.toml" cmp "$WORK/nydus-config.before.toml" "$ROOT/etc/nydus/config.toml"
check "no nydusd is left in the node" bash -c '! pgrep -f /usr/local/libexec/nydusd --ns "$1" --nslist pid >/dev/null' - "$LEADER"
node journalctl --no-pager -o short-iso >"$WORK/journal.log"
for log in boot.log apt.log install.log status.log disable-restart.log enable-restart.log status-again.log pull.log \
    pull-probe.log run.log run-after.log run-after-removal.log install-again.log enable-again.log teardown.log \
    remove.log journal.log flatcar-disable-first.log flatcar-enable.log flatcar-status.log flatcar-teardown.log \
    flatcar-disable.log flatcar-back.log; do
    check_no_credential "$WORK/$log"
done
check_no_credential "$WORK"/live-*.log

step "20. The node-installer DaemonSet (contrib/kubernetes), run through CRI as kubelet runs it"
installer_daemonset
check_no_credential "$ROOT/var/log/pods"

step "21. Power off"
power_off_node
check "the node powered off" node_is_down
check "no process is left in the node" test -z "$(node_processes)"
check "nothing is left mounted in the node" test -z "$(awk -v root="$ROOT" 'index($5, root) == 1' /proc/self/mountinfo)"
node_cgroups | xargs -r rmdir
check "the node's cgroups are gone, the pods' with them" test -z "$(node_cgroups)"
echo "end to end on a booted bookworm node in ${SECONDS} s"
finish
