#!/usr/bin/env bash
# The node-installer image `make image` made (docs/packages.md, The
# node-installer image), read back as a registry client and a runtime would:
# skopeo sees one image index of linux/amd64 and linux/arm64 under both
# reference forms; each platform's image, copied out by skopeo and unpacked
# by umoci, holds exactly the release binaries (the same bytes, static ELF of
# its architecture, 0755 root), the license, /host and nothing else, in a
# layer of sorted, dated, root-owned ustar members; its config runs the
# installer on /host as root. The binaries run from the unpacked image. Then
# reproducibility: two more builds from copies of the same binaries, with
# another umask, time zone, locale and output path, at least a second apart,
# are the same bytes as make image's; one with another SOURCE_DATE_EPOCH is
# not (the comparison can fail).
# Run by `make test` after `make image`; alone: make test-image (root).
set -euo pipefail
REPO=$(cd "$(dirname "$0")/../.." && pwd)
# shellcheck source=tests/report.sh
source "$REPO/tests/report.sh"
[ "$(id -u)" -eq 0 ] || { echo "$0: needs root (umoci unpacks as root, chroot)" >&2; exit 1; }
for tool in skopeo umoci jq file qemu-aarch64-static; do
    command -v "$tool" >/dev/null || { echo "$0: $tool is missing: run make deps-image" >&2; exit 1; }
done

VERSION=$(sed -n 's/^version = "\(.*\)"$/\1/p' "$REPO/Cargo.toml" | head -n 1)
LICENSE=$(sed -n 's/^license = "\(.*\)"$/\1/p' "$REPO/Cargo.toml" | head -n 1)
ARCHIVE=$REPO/target/image/nydus-overlayfs-installer-$VERSION.tar
[ -e "$ARCHIVE" ] || { echo "$0: $ARCHIVE is missing: run make image first" >&2; exit 1; }
# The Makefile's SOURCE_DATE_EPOCH (it exports it), or the same derivation.
EPOCH=${SOURCE_DATE_EPOCH:-$(git -C "$REPO" log -1 --format=%ct)}
CREATED=$(date -u -d "@$EPOCH" +%Y-%m-%dT%H:%M:%SZ)
declare -A TRIPLE=([amd64]=x86_64-unknown-linux-gnu [arm64]=aarch64-unknown-linux-gnu)
declare -A FILE_SAYS=([amd64]="x86-64" [arm64]="ARM aarch64")
declare -A PLATFORM=([amd64]="linux/amd64" [arm64]="linux/arm64/v8")
release_dir() { echo "$REPO/target/${TRIPLE[$1]}/release"; }
WORK=$(mktemp -d /tmp/nydus-overlayfs-image-test.XXXXXX)
trap 'rm -rf "$WORK"' EXIT

# json_is FILE JQ_FILTER EXPECTED: the filter's compact output, keys
# sorted, is EXPECTED.
json_is() {
    local got
    got=$(jq -cS "$2" "$1")
    [ "$got" = "$3" ] || { echo "   $2: $got, expected $3"; return 1; }
}

# The labels (and annotations) every part of the image carries.
LABELS=$(jq -ncS --arg version "$VERSION" --arg license "$LICENSE" --arg created "$CREATED" '{
    "org.opencontainers.image.title": "nydus-overlayfs-installer",
    "org.opencontainers.image.version": $version,
    "org.opencontainers.image.licenses": $license,
    "org.opencontainers.image.created": $created}')
has_labels() {
    json_is "$1" "$2 | with_entries(select(.key != \"org.opencontainers.image.description\"))" "$LABELS" &&
        json_is "$1" "$2 | has(\"org.opencontainers.image.description\")" true
}

step "The archive, as skopeo reads it: $ARCHIVE ($(stat -c %s "$ARCHIVE") bytes)"
echo "sha256 $(sha256sum "$ARCHIVE" | cut -d' ' -f1)  make image's archive"
check "skopeo inspect --raw oci-archive:FILE reads it" \
    bash -c "skopeo inspect --raw 'oci-archive:$ARCHIVE' >'$WORK/index.json'"
check "it is an OCI image index" json_is "$WORK/index.json" .mediaType '"application/vnd.oci.image.index.v1+json"'
check "of exactly linux/amd64 and linux/arm64 (variant v8), in that order" json_is "$WORK/index.json" \
    '[.manifests[].platform | [.os, .architecture, .variant // empty] | join("/")]' '["linux/amd64","linux/arm64/v8"]'
check "the index carries the title, version, license and creation time" has_labels "$WORK/index.json" .annotations
check "oci-archive:FILE:$VERSION names the same index" \
    bash -c "skopeo inspect --raw 'oci-archive:$ARCHIVE:$VERSION' | cmp -s - '$WORK/index.json'"
check "oci-archive:FILE:another-tag is refused" \
    bash -c "! skopeo inspect --raw 'oci-archive:$ARCHIVE:another-tag' >/dev/null 2>&1"
tar -xOf "$ARCHIVE" index.json >"$WORK/layout-index.json"
check "the layout's index.json names it by ref.name $VERSION" json_is "$WORK/layout-index.json" \
    '[.manifests[] | .annotations."org.opencontainers.image.ref.name"]' "[\"$VERSION\"]"
check "skopeo copy --all --preserve-digests copies the index unchanged (what a push sends)" \
    bash -c "skopeo copy -q --all --preserve-digests 'oci-archive:$ARCHIVE' 'oci:$WORK/all:$VERSION' &&
        skopeo inspect --raw 'oci:$WORK/all:$VERSION' | cmp -s - '$WORK/index.json'"

# The layer's members as GNU tar lists them: type and mode, owner, date, name.
layer_listing() {
    tar -tvzf "$1" --numeric-owner --full-time --utc | awk '{ print $1, $2, $4 "T" $5 "Z", $6 }'
}
expected_listing() {
    local dir="drwxr-xr-x 0/0 $CREATED" file="-rw-r--r-- 0/0 $CREATED" program="-rwxr-xr-x 0/0 $CREATED"
    printf '%s\n' "$dir host/" "$dir usr/" "$dir usr/sbin/" "$program usr/sbin/nydus-overlayfs" \
        "$program usr/sbin/nydus-overlayfs-setup" "$dir usr/share/" "$dir usr/share/doc/" \
        "$dir usr/share/doc/nydus-overlayfs/" "$file usr/share/doc/nydus-overlayfs/copyright"
}
# plain_ustar TAR: every header is POSIX ustar ("ustar\0" "00") of a file
# or a directory: no pax records (atime, ctime, long names) and no GNU ones.
plain_ustar() {
    python3 - "$1" <<'PY'
import sys
data = open(sys.argv[1], "rb").read()
offset = 0
while data[offset:offset + 512].strip(b"\0"):
    header = data[offset:offset + 512]
    if header[257:265] != b"ustar\x0000" or header[156:157] not in (b"0", b"5"):
        sys.exit(f"not a plain ustar file or directory: {header[:100].rstrip(bytes(1))!r}")
    size = int(header[124:136].strip(b"\0 ") or b"0", 8)
    offset += 512 + (size + 511) // 512 * 512
PY
}
# The rootfs as a runtime sees it: path, type, mode, owner.
rootfs_listing() {
    (cd "$1" && find . -printf '%p %y %m %U:%G\n' | LC_ALL=C sort)
}

for arch in amd64 arm64; do
    step "linux/$arch, copied out by skopeo and unpacked by umoci"
    oci=$WORK/oci-$arch
    variant=()
    [ "$arch" = arm64 ] && variant=(--override-variant v8)
    check "skopeo copy --override-arch $arch picks its image" \
        skopeo copy -q --override-os linux --override-arch "$arch" "${variant[@]}" "oci-archive:$ARCHIVE" "oci:$oci:$arch"
    skopeo inspect --raw "oci:$oci:$arch" >"$WORK/manifest-$arch.json"
    skopeo inspect --config --raw "oci:$oci:$arch" >"$WORK/config-$arch.json"
    config=$WORK/config-$arch.json
    check "its manifest is the index's $arch entry" test "sha256:$(sha256sum <"$WORK/manifest-$arch.json" | cut -d' ' -f1)" = \
        "$(jq -r --arg p "${PLATFORM[$arch]}" \
            '.manifests[] | select([.platform.os, .platform.architecture, .platform.variant // empty] | join("/") == $p) | .digest' \
            "$WORK/index.json")"
    check "the manifest carries the labels as annotations" has_labels "$WORK/manifest-$arch.json" .annotations
    check "config: os linux, architecture $arch${variant:+, variant v8}" json_is "$config" '[.os, .architecture, .variant]' \
        "$(jq -nc --arg a "$arch" '["linux", $a, (if $a == "arm64" then "v8" else null end)]')"
    check 'config: Entrypoint ["/usr/sbin/nydus-overlayfs-setup"]' json_is "$config" .config.Entrypoint \
        '["/usr/sbin/nydus-overlayfs-setup"]'
    check 'config: Cmd ["--root","/host","installer"]' json_is "$config" .config.Cmd '["--root","/host","installer"]'
    check 'config: User 0:0, WorkingDir /' json_is "$config" '[.config.User, .config.WorkingDir]' '["0:0","/"]'
    check "config: the labels" has_labels "$config" .config.Labels
    check "config: created and its one history entry at SOURCE_DATE_EPOCH ($CREATED)" json_is "$config" \
        '[.created, (.history | length), .history[0].created]' "[\"$CREATED\",1,\"$CREATED\"]"
    layer=$oci/blobs/$(jq -r '.layers[0].digest | sub(":"; "/")' "$WORK/manifest-$arch.json")
    check "one gzip layer" json_is "$WORK/manifest-$arch.json" '[.layers[].mediaType]' \
        '["application/vnd.oci.image.layer.v1.tar+gzip"]'
    check "rootfs.diff_ids is the sha256 of the uncompressed layer" json_is "$config" .rootfs \
        "{\"diff_ids\":[\"sha256:$(zcat "$layer" | sha256sum | cut -d' ' -f1)\"],\"type\":\"layers\"}"
    check "the layer: sorted names, owner 0:0, modes 0755/0644, all dated SOURCE_DATE_EPOCH" \
        diff <(expected_listing) <(layer_listing "$layer")
    zcat "$layer" >"$WORK/layer-$arch.tar"
    check "the layer: plain ustar headers (no pax or GNU records: no atime, ctime, names)" \
        plain_ustar "$WORK/layer-$arch.tar"

    bundle=$WORK/bundle-$arch
    check "umoci unpack makes a runtime bundle of it" bash -c "umoci unpack --image '$oci:$arch' '$bundle' >'$WORK/umoci.log' 2>&1"
    rootfs=$bundle/rootfs
    check "the rootfs holds exactly the binaries, the license and /host (root-owned, 0755/0644)" \
        diff <(printf '%s\n' ". d 755 0:0" "./host d 755 0:0" "./usr d 755 0:0" "./usr/sbin d 755 0:0" \
            "./usr/sbin/nydus-overlayfs f 755 0:0" "./usr/sbin/nydus-overlayfs-setup f 755 0:0" \
            "./usr/share d 755 0:0" "./usr/share/doc d 755 0:0" "./usr/share/doc/nydus-overlayfs d 755 0:0" \
            "./usr/share/doc/nydus-overlayfs/copyright f 644 0:0") <(rootfs_listing "$rootfs")
    for binary in nydus-overlayfs nydus-overlayfs-setup; do
        check "$binary is the release binary, byte for byte" cmp "$(release_dir "$arch")/$binary" "$rootfs/usr/sbin/$binary"
        echo "   file: $(file -b "$rootfs/usr/sbin/$binary")"
        check "$binary: a static ELF program for ${FILE_SAYS[$arch]}" bash -c \
            "file -b '$rootfs/usr/sbin/$binary' | grep -F '${FILE_SAYS[$arch]}' | grep -qE 'static(ally|-pie) linked'"
    done
    check "copyright is LICENSE" cmp "$REPO/LICENSE" "$rootfs/usr/share/doc/nydus-overlayfs/copyright"
    check "the bundle runs the installer on /host as root, from /" json_is "$bundle/config.json" \
        '[.process.args, .process.cwd, .process.user.uid, .process.user.gid]' \
        '[["/usr/sbin/nydus-overlayfs-setup","--root","/host","installer"],"/",0,0]'
    if [ "$arch" = amd64 ]; then
        how="in a chroot of the unpacked image (nothing else there)"
        version_output=$(chroot "$rootfs" /usr/sbin/nydus-overlayfs-setup --version 2>&1) || true
    else
        how="under qemu-aarch64-static"
        version_output=$(qemu-aarch64-static "$rootfs/usr/sbin/nydus-overlayfs-setup" --version 2>&1) || true
    fi
    echo "   --version: $version_output"
    check "nydus-overlayfs-setup --version runs $how and says $VERSION" \
        grep -qx "nydus-overlayfs-setup $VERSION" <<<"$version_output"
done

step "Reproducible: the same binaries make the same archive"
# build N OUTDIR UMASK TZ LOCALE [EPOCH]: cargo xtask image from copies of
# the release binaries in another directory, under that umask, TZ and locale.
build() {
    local n=$1 out=$2 mask=$3 tz=$4 locale=$5 epoch=${6:-$EPOCH} arch args=()
    for arch in amd64 arm64; do
        mkdir -p "$WORK/inputs-$n/$arch"
        cp "$(release_dir "$arch")"/nydus-overlayfs{,-setup} "$WORK/inputs-$n/$arch/"
        args+=("$arch=$WORK/inputs-$n/$arch")
    done
    echo "   build $n: $out, umask $mask, TZ=$tz, LC_ALL=$locale, SOURCE_DATE_EPOCH=$epoch, at $(date -u '+%T.%N')"
    (
        umask "$mask"
        cd "$REPO"
        env TZ="$tz" LC_ALL="$locale" LANG="$locale" SOURCE_DATE_EPOCH="$epoch" cargo xtask image "$out" "${args[@]}"
    ) >"$WORK/build-$n.log" 2>&1 || { cat "$WORK/build-$n.log"; return 1; }
}
digest_of() { sha256sum "$1" | cut -d' ' -f1; }
NAME=$(basename "$ARCHIVE")
# At least a second after make image wrote its archive, and after each other.
sleep_past() { while [ "$(date +%s)" -le "$1" ]; do sleep 0.2; done; }
sleep_past "$(stat -c %Y "$ARCHIVE")"
check "build 1 (umask 077, TZ=Asia/Tokyo, LC_ALL=C)" build 1 "$WORK/one" 077 Asia/Tokyo C
sleep_past "$(stat -c %Y "$WORK/one/$NAME")"
check "build 2 (umask 002, TZ=America/St_Johns, LC_ALL=C.UTF-8, a longer path)" \
    build 2 "$WORK/second/a/much/longer/output/path" 002 America/St_Johns C.UTF-8
for file in "$ARCHIVE" "$WORK/one/$NAME" "$WORK/second/a/much/longer/output/path/$NAME"; do
    echo "sha256 $(digest_of "$file")  ${file#"$REPO"/}"
done
check "build 1 is make image's archive, bit for bit" cmp "$ARCHIVE" "$WORK/one/$NAME"
check "build 2 is make image's archive, bit for bit" cmp "$ARCHIVE" "$WORK/second/a/much/longer/output/path/$NAME"

step "The comparison can fail: another SOURCE_DATE_EPOCH"
check "build 3 (SOURCE_DATE_EPOCH one second later)" build 3 "$WORK/three" 022 UTC C.UTF-8 $((EPOCH + 1))
echo "sha256 $(digest_of "$WORK/three/$NAME")  build 3"
check "build 3 is a different archive, as expected" bash -c "! cmp -s '$ARCHIVE' '$WORK/three/$NAME'"
check "and it says the other time" bash -c "skopeo inspect --raw 'oci-archive:$WORK/three/$NAME' |
    jq -e '.annotations.\"org.opencontainers.image.created\" == \"$(date -u -d "@$((EPOCH + 1))" +%Y-%m-%dT%H:%M:%SZ)\"' >/dev/null"
finish
