#!/usr/bin/env bash
# The arm64 helper of `make package ARCH=arm64` mounting for real under
# qemu-aarch64-static. qemu-user 7.2 does not implement fsopen (ENOSYS), so
# the helper takes its legacy mount(2) path, which qemu passes to this
# kernel: the mounts are this (amd64) kernel's, made by the arm64 helper's
# own decisions. Checked through /proc/self/mountinfo as the amd64 tests do:
# two layers with dev and suid in effect, long options compacted to paths
# relative to the layers' common parent, and the one-line refusal when even
# that does not fit in mount(2)'s page.
# Run by `make test-arm64` (and so `make test`) as root.
set -euo pipefail
REPO=$(cd "$(dirname "$0")/../.." && pwd)
# shellcheck source=tests/report.sh
source "$REPO/tests/report.sh"
HELPER=$REPO/target/arm64/pkgroot/deb/usr/sbin/nydus-overlayfs
QEMU=${QEMU_AARCH64:-/usr/bin/qemu-aarch64-static}

if [ -z "${ARM64_WORK:-}" ]; then
    [ "$(id -u)" -eq 0 ] || { echo "$0: needs root (it mounts overlayfs)" >&2; exit 1; }
    [ -x "$QEMU" ] || { echo "$0: $QEMU is missing: install qemu-user-static (make deps-arm64)" >&2; exit 1; }
    [ -x "$HELPER" ] || { echo "$0: $HELPER is missing: run make package ARCH=arm64 first" >&2; exit 1; }
    work=$(mktemp -d /tmp/nydus-overlayfs-arm64.XXXXXX)
    chmod 755 "$work"
    status=0
    ARM64_WORK=$work unshare --mount --propagation private bash "$0" "$@" || status=$?
    rm -rf "$work"
    exit "$status"
fi
WORK=$ARM64_WORK
SECRET=eyJjb25maWciOiJ7XCJhdXRoXCI6XCJkWE5sY2pwb2RXNTBaWEl5XCJ9In0=

# emulated LOG ARGS...: the arm64 helper under qemu, its system calls logged
# to LOG (qemu's -strace, kept apart from the helper's own stderr).
emulated() {
    local log=$1
    shift
    "$QEMU" -strace -D "$log" "$HELPER" "$@"
}
# The mountinfo line of a mount point, and its fields.
mountinfo_of() {
    awk -v mp="$1" '$5 == mp' /proc/self/mountinfo
}
# The super options (after the " - overlay SOURCE " part).
super_options() {
    mountinfo_of "$1" | sed 's/.* - [^ ]* [^ ]* //'
}
lowerdir_value() {
    super_options "$1" | tr ',' '\n' | sed -n 's/^lowerdir=//p'
}
mounted_under() {
    awk -v root="$1/" 'index($5, root) == 1 { print $5 }' /proc/self/mountinfo
}
# The helper took the legacy path: qemu refused fsopen, and mount(2) was called.
took_legacy_path() {
    grep -qE 'fsopen|Unknown syscall 430' "$1" && grep -qE '(^|[0-9] )mount\(' "$1"
}
# layers DIR COUNT: COUNT layer directories DIR/NNN, each with a file layer-NNN.
layers() {
    local dir=$1 count=$2 i
    for ((i = 0; i < count; i++)); do
        mkdir -p "$(printf '%s/%03d' "$dir" "$i")"
        echo "$i" >"$(printf '%s/%03d/layer-%03d' "$dir" "$i" "$i")"
    done
}
all_layers_visible() {
    local merged=$1 count=$2 i
    for ((i = 0; i < count; i++)); do
        [ "$(cat "$(printf '%s/layer-%03d' "$merged" "$i")")" = "$i" ] || return 1
    done
}

step "The helper is the arm64 one, statically linked"
description=$(file -b "$HELPER")
echo "-- file: $description"
check "an ARM aarch64 executable" grep -q 'ARM aarch64' <<<"$description"
check "statically linked" grep -qE 'static(ally|-pie) linked' <<<"$description"
check "(this machine is not arm64: it runs under qemu-user)" test "$(uname -m)" != aarch64

step "Two layers with dev and suid, through the legacy mount(2) path"
T=$WORK/two
layers "$T/layers" 2
mkdir -p "$T"/{upper,work,merged}
cp /usr/bin/id "$T/layers/000/id"
chmod 4755 "$T/layers/000/id"
mknod "$T/layers/000/null" c 1 3
options="lowerdir=$T/layers/000:$T/layers/001,upperdir=$T/upper,workdir=$T/work,extraoption=$SECRET,dev,suid"
emulated "$WORK/two.strace" overlay "$T/merged" -o "$options" >"$WORK/two.out" 2>"$WORK/two.err" && status=0 || status=$?
check "the helper exits 0" test "$status" = 0
check "and prints nothing" test ! -s "$WORK/two.out" -a ! -s "$WORK/two.err"
check "fsopen failed under qemu and mount(2) was called (qemu's -strace)" took_legacy_path "$WORK/two.strace"
echo "-- mountinfo: $(mountinfo_of "$T/merged")"
check "an overlay is mounted" test "$(mountinfo_of "$T/merged" | awk '{for (i = 7; i < NF; i++) if ($i == "-") print $(i + 1)}')" = overlay
check "lowerdir as given, absolute" test "$(lowerdir_value "$T/merged")" = "$T/layers/000:$T/layers/001"
check "the per-mount flags have neither nodev nor nosuid" \
    bash -c "! awk '{print \$6}' <<<'$(mountinfo_of "$T/merged")' | grep -qE 'nodev|nosuid'"
check "extraoption did not reach the kernel" bash -c "! grep -q extraoption <<<'$(super_options "$T/merged")'"
check "both layers are visible" all_layers_visible "$T/merged" 2
check "suid in effect: the setuid id run as nobody has euid 0" \
    bash -c "setpriv --reuid=65534 --regid=65534 --clear-groups '$T/merged/id' | grep -q 'euid=0(root)'"
check "dev in effect: the device node opens" bash -c "echo x >'$T/merged/null'"
check "a write lands in upperdir" bash -c "echo new >'$T/merged/written' && test -e '$T/upper/written'"
check "unmount" umount "$T/merged"

step "130 layers of ~90-byte paths: compacted to paths relative to their common parent"
C=$WORK/compact
parent=$C/layers/$(printf 'p%.0s' {1..60})
layers "$parent" 130
mkdir -p "$C"/{upper,work,merged}
lowers=$(for ((i = 0; i < 130; i++)); do printf '%s/%03d:' "$parent" "$i"; done)
options="lowerdir=${lowers%:},upperdir=$C/upper,workdir=$C/work,extraoption=$SECRET,dev,suid"
check "the options are longer than mount(2)'s page (${#options} > 4095 bytes)" test "${#options}" -gt 4095
emulated "$WORK/compact.strace" overlay "$C/merged" -o "$options" >"$WORK/compact.out" 2>"$WORK/compact.err" &&
    status=0 || status=$?
check "the helper exits 0, silently" test "$status" = 0 -a ! -s "$WORK/compact.err"
check "through the legacy path" took_legacy_path "$WORK/compact.strace"
value=$(lowerdir_value "$C/merged")
echo "-- mountinfo's lowerdir: ${value:0:40}… ($(tr ':' '\n' <<<"$value" | wc -l) layers)"
check "all 130 layers in mountinfo" test "$(tr ':' '\n' <<<"$value" | wc -l)" = 130
check "each relative to the common parent" test "$(tr ':' '\n' <<<"$value" | grep -c '^[0-9][0-9][0-9]$')" = 130
check "all 130 layers are visible" all_layers_visible "$C/merged" 130
check "unmount" umount "$C/merged"

step "Options that do not fit even compacted: refused, in one line, nothing mounted"
S=$WORK/scattered
tail_part=$(printf 'q%.0s' {1..60})
lowers=$(for ((i = 0; i < 130; i++)); do
    dir=$(printf '%s/%03d/%s' "$S" "$i" "$tail_part")
    mkdir -p "$dir"
    printf '%s:' "$dir"
done)
mkdir -p "$S"/{upper,work,merged}
options="lowerdir=${lowers%:},upperdir=$S/upper,workdir=$S/work,extraoption=$SECRET,dev,suid"
emulated "$WORK/refused.strace" overlay "$S/merged" -o "$options" >"$WORK/refused.out" 2>"$WORK/refused.err" &&
    status=0 || status=$?
echo "-- stderr: $(cat "$WORK/refused.err")"
check "exit 32 (mount failure)" test "$status" = 32
check "one line on stderr" test "$(wc -l <"$WORK/refused.err")" = 1
check "naming the limit and what to do" \
    grep -q "more than the 4095 this kernel's mount(2) reads.*Linux 6.8 or newer" "$WORK/refused.err"
check "without the extraoption's value" bash -c "! grep -qF '$SECRET' '$WORK/refused.err' '$WORK/refused.out'"
check "fsopen was tried and failed (qemu's -strace)" grep -qE 'fsopen|Unknown syscall 430' "$WORK/refused.strace"
check "nothing is mounted under the test's directory" test -z "$(mounted_under "$WORK")"
finish
