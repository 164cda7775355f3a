#!/usr/bin/env bash
# Reproducible packages: `make package` from two clones of this commit at
# different paths, started at least a minute apart, with a different umask,
# time zone and locale, makes a bit-identical .deb and a bit-identical .rpm.
# On a difference, diffoscope shows where.
#
# The clones are of this checkout's commit with its uncommitted changes copied
# on top (there are none in CI), so what is tested is what is here. Each
# builds from nothing in its own target/ (two full release builds: minutes).
# Run by `make test`; needs git and diffoscope (make deps-repro).
set -euo pipefail
REPO=$(cd "$(dirname "$0")/../.." && pwd)
# shellcheck source=tests/report.sh
source "$REPO/tests/report.sh"
# Seconds between the two builds' starts (a shorter gap only to try the test).
APART=${NYDUS_OVERLAYFS_REPRO_APART:-60}
# Which uncommitted changes the clones get, as a git pathspec (default: all;
# e.g. "Makefile tools" to leave out someone's unfinished work).
read -r -a CHANGES <<<"${NYDUS_OVERLAYFS_REPRO_CHANGES:-.}"

WORK=$(mktemp -d /tmp/nydus-overlayfs-repro.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
# Paths of different lengths and depths: a path that leaked into a binary
# would also move what follows it.
CLONE_1=$WORK/one/nydus-overlayfs
CLONE_2=$WORK/second-builder/a/much/longer/path/to/src

# clone DEST: this commit, plus the working tree's changes, made under the
# caller's umask (so the checked-out files' modes follow it).
clone() {
    local dest=$1
    mkdir -p "$(dirname "$dest")"
    git clone --quiet --no-hardlinks "$REPO" "$dest"
    (cd "$REPO" && git ls-files -z --modified --others --exclude-standard -- "${CHANGES[@]}") |
        while IFS= read -r -d '' file; do
            if [ -e "$REPO/$file" ]; then printf '%s\0' "$file"; fi
        done | (cd "$REPO" && tar --null --no-recursion -T - -cf -) | tar -C "$dest" --no-same-permissions -xf -
    (cd "$REPO" && git ls-files -z --deleted -- "${CHANGES[@]}") | (cd "$dest" && xargs -0r rm -f)
}

# build N DIR UMASK TZ LOCALE: clone and `make package` in a clean environment
# (no SOURCE_DATE_EPOCH given: the Makefile derives it).
build() {
    local n=$1 dir=$2 mask=$3 tz=$4 locale=$5
    echo "build $n: $dir, umask $mask, TZ=$tz, LC_ALL=$locale, started $(date -u '+%F %T') UTC"
    (
        umask "$mask"
        clone "$dir"
        cd "$dir"
        env -u SOURCE_DATE_EPOCH -u CARGO_TARGET_DIR -u MAKEFLAGS -u MAKELEVEL TZ="$tz" LC_ALL="$locale" LANG="$locale" \
            make --no-print-directory package
    ) >"$WORK/build-$n.log" 2>&1 || { tail -n 40 "$WORK/build-$n.log"; return 1; }
    echo "build $n: finished $(date -u '+%F %T') UTC"
}

# same_or_show A B: whether two files are identical; if not, where they differ.
same_or_show() {
    cmp -s "$1" "$2" && return 0
    local kept=$REPO/target/repro-differ
    mkdir -p "$kept/1" "$kept/2"
    cp "$1" "$kept/1/" && cp "$2" "$kept/2/"
    echo "-- diffoscope (first 150 lines; the two files are kept in target/repro-differ/):"
    diffoscope --no-progress --text - "$1" "$2" 2>&1 | head -n 150 || true
    return 1
}

# Fails if a path of either clone is in the file (e.g. a panic location).
no_build_path() {
    ! grep -aqE "$WORK/(one|second-builder)" "$1"
}

step "Build 1 and build 2, at least $APART s apart"
start_1=$(date +%s)
check "build 1 (umask 022, TZ=UTC, LC_ALL=C.UTF-8) makes the packages" build 1 "$CLONE_1" 022 UTC C.UTF-8
wait_for=$((start_1 + APART - $(date +%s)))
if [ "$wait_for" -gt 0 ]; then
    echo "(waiting $wait_for s: the builds start at least $APART s apart)"
    sleep "$wait_for"
fi
start_2=$(date +%s)
check "build 2 (umask 002, TZ=Asia/Tokyo, LC_ALL=C) makes the packages" build 2 "$CLONE_2" 002 Asia/Tokyo C
check "the builds started $((start_2 - start_1)) s apart (at least $APART)" test $((start_2 - start_1)) -ge "$APART"

step "The same packages, bit for bit"
DEB_1=$(ls "$CLONE_1"/target/debian/nydus-overlayfs_*.deb)
DEB_2=$(ls "$CLONE_2"/target/debian/nydus-overlayfs_*.deb)
RPM_1=$(ls "$CLONE_1"/target/generate-rpm/nydus-overlayfs-*.rpm)
RPM_2=$(ls "$CLONE_2"/target/generate-rpm/nydus-overlayfs-*.rpm)
for file in "$DEB_1" "$DEB_2" "$RPM_1" "$RPM_2"; do
    echo "sha256 $(sha256sum "$file" | cut -d' ' -f1)  ${file#"$WORK"/}"
done
check "the .deb files are identical" same_or_show "$DEB_1" "$DEB_2"
check "the .rpm files are identical" same_or_show "$RPM_1" "$RPM_2"

step "What makes them so"
epoch=$(git -C "$CLONE_1" log -1 --format=%ct)
echo "-- SOURCE_DATE_EPOCH: $epoch ($(date -u -d "@$epoch" '+%F %T') UTC, the last commit)"
check "every file in the .deb is dated the last commit" \
    test -z "$(dpkg-deb --fsys-tarfile "$DEB_1" | tar -tv --full-time --utc | grep -v " $(date -u -d "@$epoch" '+%F %T') ")"
check "the .rpm's build time is the last commit" test "$(rpm -qp --qf '%{BUILDTIME}' "$RPM_1")" = "$epoch"
check "every file in the .rpm is dated the last commit" \
    test -z "$(rpm -qp --qf '[%{FILEMTIMES}\n]' "$RPM_1" | grep -vx "$epoch")"
for binary in nydus-overlayfs nydus-overlayfs-setup; do
    path=$CLONE_2/target/$(rustc -vV | sed -n 's/^host: //p')/release/$binary
    check "$binary holds no path of the build tree" no_build_path "$path"
done
finish
