#!/usr/bin/env bash
# The repositories `make repo` makes carry both architectures: an APT index
# per architecture (binary-amd64, binary-arm64) each listing only its own
# package, Release naming both and signed over both, and an RPM repository
# whose signed primary.xml lists the x86_64 and the aarch64 package.
# Run by `make test` after `make package-all` (the arm64 tier builds arm64).
set -euo pipefail
REPO=$(cd "$(dirname "$0")/../.." && pwd)
# shellcheck source=tests/report.sh
source "$REPO/tests/report.sh"

declare -A DEB=([amd64]="$(echo "$REPO"/target/debian/nydus-overlayfs_*_amd64.deb)"
    [arm64]="$(echo "$REPO"/target/arm64/debian/nydus-overlayfs_*_arm64.deb)")
DEBS=("${DEB[amd64]}" "${DEB[arm64]}")
RPMS=("$REPO"/target/generate-rpm/nydus-overlayfs-*.x86_64.rpm "$REPO"/target/arm64/generate-rpm/nydus-overlayfs-*.aarch64.rpm)
for file in "${DEBS[@]}" "${RPMS[@]}"; do
    [ -e "$file" ] || { echo "$0: $file is missing: run make package-all first" >&2; exit 1; }
done
WORK=$(mktemp -d /tmp/nydus-overlayfs-arches-test.XXXXXX)
cleanup() {
    gpgconf --homedir "$WORK/gnupg" --kill gpg-agent 2>/dev/null || true
    rm -rf "$WORK"
}
trap cleanup EXIT
export GNUPGHOME=$WORK/gnupg-scratch
mkdir -m 700 "$GNUPGHOME"
mkdir -m 700 "$WORK/gnupg"
GNUPGHOME=$WORK/gnupg gpg --batch --quiet --passphrase '' --quick-gen-key \
    "nydus-overlayfs test repository <test@nydus-overlayfs.invalid>" rsa3072 sign never 2>/dev/null
PUBLISHED=$WORK/repo
dists=$PUBLISHED/deb/dists/stable

# The Architecture and Filename of every package in an APT index.
listed() {
    awk '/^Architecture: /{a = $2} /^Filename: /{print a, $2}' "$dists/main/binary-$1/Packages"
}

step "make-repo with the amd64 and arm64 .deb and .rpm"
check "make-repo makes the repositories" bash -c "REPO_KEY='$WORK/gnupg' '$REPO/tools/make-repo' '$PUBLISHED' \
    ${DEBS[*]} ${RPMS[*]} >'$WORK/make-repo.log' 2>&1"
sed 's/^/   /' "$WORK/make-repo.log"
for arch in amd64 arm64; do
    echo "-- binary-$arch/Packages: $(listed "$arch")"
    check "binary-$arch/Packages lists exactly the $arch package" \
        test "$(listed "$arch")" = "$arch pool/main/n/nydus-overlayfs/$(basename "${DEB[$arch]}")"
    check "binary-$arch/Packages.gz is the same index" cmp <(zcat "$dists/main/binary-$arch/Packages.gz") \
        "$dists/main/binary-$arch/Packages"
    check "Release lists the hash of binary-$arch/Packages" \
        grep -q " main/binary-$arch/Packages\$" "$dists/Release"
done
check "Release: Architectures: amd64 arm64" grep -qx 'Architectures: amd64 arm64' "$dists/Release"
check "InRelease is signed by the key (gpgv)" \
    bash -c "gpgv --keyring '$PUBLISHED/KEY.gpg' '$dists/InRelease' 2>/dev/null"

step "The RPM repository holds both, signed"
python3 - "$PUBLISHED/rpm/repodata" >"$WORK/primary.txt" <<'PY'
import gzip, os, sys, xml.etree.ElementTree as ET
repodata = sys.argv[1]
ns = {"repo": "http://linux.duke.edu/metadata/repo", "common": "http://linux.duke.edu/metadata/common"}
href = ET.parse(os.path.join(repodata, "repomd.xml")).find("repo:data[@type='primary']/repo:location", ns).get("href")
with gzip.open(os.path.join(repodata, "..", href)) as f:
    for package in ET.parse(f).getroot().findall("common:package", ns):
        print(package.find("common:arch", ns).text, package.find("common:location", ns).get("href"))
PY
sed 's/^/   primary.xml: /' "$WORK/primary.txt"
check "primary.xml lists the aarch64 and the x86_64 package" \
    test "$(cut -d' ' -f1 "$WORK/primary.txt" | LC_ALL=C sort | xargs)" = "aarch64 x86_64"
check "repomd.xml is signed by the key (gpgv)" \
    bash -c "gpgv --keyring '$PUBLISHED/KEY.gpg' '$PUBLISHED/rpm/repodata/repomd.xml.asc' '$PUBLISHED/rpm/repodata/repomd.xml' 2>/dev/null"
for rpm_file in "$PUBLISHED"/rpm/*.rpm; do
    check "$(basename "$rpm_file") is signed by the key" \
        bash -c "rpm -qp --qf '%{RSAHEADER:pgpsig}' '$rpm_file' 2>/dev/null | grep -q 'Key ID'"
done
finish
