#!/usr/bin/env bash
# The signed RPM repository `make repo` makes (tools/make-repo), checked with
# what Debian ships: rpmkeys --checksig verifies the signed RPM with the key
# imported and reports it unsigned or NOT OK without it; createrepo_c's
# repodata names the signed package (primary.xml read here) and is signed.
# Also: REPO_KEY as an exported key file, and no REPO_KEY at all (an
# ephemeral key, said loudly, nothing secret left behind).
# Run by `make test` after `make package`.
set -euo pipefail
REPO=$(cd "$(dirname "$0")/../.." && pwd)
# shellcheck source=tests/report.sh
source "$REPO/tests/report.sh"

DEB=$(ls "$REPO"/target/debian/nydus-overlayfs_*.deb)
RPM=$(ls "$REPO"/target/generate-rpm/nydus-overlayfs-*.rpm)
WORK=$(mktemp -d /tmp/nydus-overlayfs-repo-test.XXXXXX)
cleanup() {
    gpgconf --homedir "$WORK/gnupg" --kill gpg-agent 2>/dev/null || true
    gpgconf --homedir "$WORK/gnupg-scratch" --kill gpg-agent 2>/dev/null || true
    rm -rf "$WORK"
}
trap cleanup EXIT
PUBLISHED=$WORK/repo
# gpg's own files (reading keys) go here, not to ~/.gnupg.
export GNUPGHOME=$WORK/gnupg-scratch
mkdir -m 700 "$GNUPGHOME"
SIGNED=$PUBLISHED/rpm/$(basename "$RPM")

# logged LOG COMMAND...: runs COMMAND with its output in LOG, shown when it fails.
logged() {
    local log=$1
    shift
    "$@" >"$log" 2>&1 || { tail -n 30 "$log"; return 1; }
}
# checksig DB FILE: rpmkeys --checksig -v against the keys in DB (a throwaway
# rpm database), printed; its exit status returned.
checksig() {
    local status=0
    rpmkeys --dbpath "$1" --checksig "$2" >"$WORK/checksig.out" 2>&1 || status=$?
    rpmkeys --dbpath "$1" --checksig -v "$2" 2>&1 | tail -n +2 >>"$WORK/checksig.out" || true
    sed "s|$WORK/||; s|^|   |" "$WORK/checksig.out"
    echo "   (exit $status)"
    return "$status"
}
fails() {
    ! "$@"
}
said() {
    grep -q "$1" "$WORK/checksig.out"
}
first_fingerprint() {
    awk -F: '$1 == "fpr" { print $10; exit }'
}

step "make-repo with REPO_KEY= an exported secret key file (a throwaway key)"
mkdir -m 700 "$WORK/gnupg"
GNUPGHOME=$WORK/gnupg gpg --batch --quiet --passphrase '' --quick-gen-key \
    "nydus-overlayfs test repository <test@nydus-overlayfs.invalid>" rsa3072 sign never 2>/dev/null
(umask 077 && GNUPGHOME=$WORK/gnupg gpg --batch --quiet --armor --export-secret-keys >"$WORK/secret-key.asc" 2>/dev/null)
FPR=$(GNUPGHOME=$WORK/gnupg gpg --batch --with-colons --list-secret-keys 2>/dev/null | first_fingerprint)
check "make-repo makes the repositories" logged "$WORK/make-repo.log" \
    env REPO_KEY="$WORK/secret-key.asc" "$REPO/tools/make-repo" "$PUBLISHED" "$DEB" "$RPM"
check "it says which key signed: $FPR" grep -q "signed with $FPR\$" "$WORK/make-repo.log"
check "KEY.asc is that key" test "$(gpg --batch --with-colons --show-keys "$PUBLISHED/KEY.asc" 2>/dev/null | first_fingerprint)" = "$FPR"
check "KEY.gpg is that key" test "$(gpg --batch --with-colons --show-keys "$PUBLISHED/KEY.gpg" 2>/dev/null | first_fingerprint)" = "$FPR"
check "KEY.asc is armored, KEY.gpg binary" \
    bash -c "head -n 1 '$PUBLISHED/KEY.asc' | grep -qx -- '-----BEGIN PGP PUBLIC KEY BLOCK-----' &&
        ! grep -q 'BEGIN PGP' '$PUBLISHED/KEY.gpg'"
check "neither holds a secret key" bash -c "! gpg --list-packets '$PUBLISHED/KEY.gpg' 2>/dev/null | grep -q ':secret' &&
    ! gpg --list-packets '$PUBLISHED/KEY.asc' 2>/dev/null | grep -q ':secret'"
check "the original RPM in target/generate-rpm is left unsigned" \
    test "$(rpm -qp --qf '%{RSAHEADER:pgpsig}' "$RPM")" = "(none)"
echo "-- the published RPM's header signature: $(rpm -qp --qf '%{RSAHEADER:pgpsig}' "$SIGNED" 2>/dev/null)"
check "the published RPM is signed by that key" \
    bash -c "rpm -qp --qf '%{RSAHEADER:pgpsig}' '$SIGNED' 2>/dev/null | grep -qi 'Key ID ${FPR: -16}\$'"

step "rpmkeys --checksig, without and with the key imported (a throwaway rpm database)"
DB=$WORK/rpmdb
mkdir -p "$DB"
echo "-- the signed RPM, no key imported:"
check "rpmkeys --checksig fails" fails checksig "$DB" "$SIGNED"
check "and says the key is missing (NOKEY) and the signatures NOT OK" \
    bash -c "grep -q NOKEY '$WORK/checksig.out' && grep -q 'SIGNATURES NOT OK' '$WORK/checksig.out'"
check "rpmkeys --import KEY.asc" rpmkeys --dbpath "$DB" --import "$PUBLISHED/KEY.asc"
echo "-- the signed RPM, key imported:"
check "rpmkeys --checksig succeeds" checksig "$DB" "$SIGNED"
check "and says: digests signatures OK" said ': digests signatures OK$'
check "with the header signature by the key OK" said "Header V4 RSA/SHA256 Signature, key ID $(echo "${FPR: -8}" | tr A-F a-f): OK"
echo "-- the unsigned RPM from make package, key imported:"
checksig "$DB" "$RPM" || true
check "rpmkeys reports it unsigned (digests OK, no signature)" \
    bash -c "grep -q ': digests OK\$' '$WORK/checksig.out' && ! grep -qi 'signature' '$WORK/checksig.out'"
echo "-- the signed RPM with one byte of its payload changed, key imported:"
cp "$SIGNED" "$WORK/altered.rpm"
size=$(stat -c %s "$WORK/altered.rpm")
printf '\x55' | dd of="$WORK/altered.rpm" bs=1 seek=$((size - 100)) conv=notrunc status=none
check "rpmkeys --checksig fails" fails checksig "$DB" "$WORK/altered.rpm"
check "and says NOT OK" said 'NOT OK'
echo "-- rpm --checksig with the same database (rpm -K):"
rpm --dbpath "$DB" -K "$SIGNED" | sed 's/^/   /'

step "createrepo_c's repodata names the signed package"
repodata=$PUBLISHED/rpm/repodata
check "repomd.xml is there" test -s "$repodata/repomd.xml"
check "repomd.xml.asc is its signature by the key (gpgv)" \
    logged "$WORK/gpgv.log" gpgv --keyring "$PUBLISHED/KEY.gpg" "$repodata/repomd.xml.asc" "$repodata/repomd.xml"
# What primary.xml says of each package: name, epoch:version-release.arch,
# location, sha256 (from createrepo_c's own output, read as dnf reads it).
python3 - "$repodata" >"$WORK/primary.txt" <<'EOF'
import gzip, os, sys, xml.etree.ElementTree as ET
repodata = sys.argv[1]
ns = {"repo": "http://linux.duke.edu/metadata/repo", "common": "http://linux.duke.edu/metadata/common"}
repomd = ET.parse(os.path.join(repodata, "repomd.xml"))
href = repomd.find("repo:data[@type='primary']/repo:location", ns).get("href")
with gzip.open(os.path.join(repodata, "..", href)) as f:
    primary = ET.parse(f)
for package in primary.getroot().findall("common:package", ns):
    v = package.find("common:version", ns)
    checksum = package.find("common:checksum", ns)
    print(package.find("common:name", ns).text,
          f"{v.get('epoch')}:{v.get('ver')}-{v.get('rel')}.{package.find('common:arch', ns).text}",
          package.find("common:location", ns).get("href"), checksum.get("type"), checksum.text)
EOF
sed 's/^/   primary.xml: /' "$WORK/primary.txt"
rpm_nevra=$(rpm -qp --qf '%{NAME} %{EPOCHNUM}:%{VERSION}-%{RELEASE}.%{ARCH}' "$SIGNED" 2>/dev/null)
check "one package, nydus-overlayfs $rpm_nevra at $(basename "$SIGNED")" \
    test "$(cut -d' ' -f1-3 "$WORK/primary.txt")" = "$rpm_nevra $(basename "$SIGNED")"
check "its sha256 is the signed file's" \
    test "$(cut -d' ' -f4-5 "$WORK/primary.txt")" = "sha256 $(sha256sum "$SIGNED" | cut -d' ' -f1)"
check "(and not the unsigned one's)" test "$(sha256sum "$SIGNED" | cut -d' ' -f1)" != "$(sha256sum "$RPM" | cut -d' ' -f1)"

step "Without REPO_KEY: an ephemeral key, said loudly, nothing secret left"
ls -d /tmp/nydus-overlayfs-repo.* 2>/dev/null | sort >"$WORK/tmp-before" || true
check "make-repo without REPO_KEY makes the repositories" \
    bash -c "env -u REPO_KEY '$REPO/tools/make-repo' '$WORK/ephemeral' '$DEB' '$RPM' >'$WORK/ephemeral.out' 2>'$WORK/ephemeral.err'"
sed 's/^/   /' "$WORK/ephemeral.err"
check "it warns on stderr that the key is ephemeral" grep -q 'WARNING: no REPO_KEY given.*EPHEMERAL' "$WORK/ephemeral.err"
check "and says so in its summary" grep -q '(EPHEMERAL)$' "$WORK/ephemeral.out"
ls -d /tmp/nydus-overlayfs-repo.* 2>/dev/null | sort >"$WORK/tmp-after" || true
check "its temporary GnuPG home is gone" cmp -s "$WORK/tmp-before" "$WORK/tmp-after"
check "no secret key in what it made" bash -c "test -z \"\$(grep -rl 'PRIVATE KEY' '$WORK/ephemeral')\" &&
    ! gpg --list-packets '$WORK/ephemeral/KEY.gpg' | grep -q ':secret'"
mkdir -p "$WORK/rpmdb-ephemeral"
rpmkeys --dbpath "$WORK/rpmdb-ephemeral" --import "$WORK/ephemeral/KEY.asc"
check "its RPM verifies with its KEY.asc" checksig "$WORK/rpmdb-ephemeral" "$WORK/ephemeral/rpm/$(basename "$RPM")"
check "InRelease verifies with its KEY.gpg" \
    logged "$WORK/gpgv-ephemeral.log" gpgv --keyring "$WORK/ephemeral/KEY.gpg" "$WORK/ephemeral/deb/dists/stable/InRelease"
finish
