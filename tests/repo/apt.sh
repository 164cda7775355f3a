#!/usr/bin/env bash
# The signed APT repository `make repo` makes (tools/make-repo), under real
# apt in a fresh Debian bookworm chroot: a `deb [signed-by=…] file:…` line,
# apt-get install from it, a higher version published into the same
# repository and taken by apt-get upgrade (the admin's conffile edit kept, the
# node still switched), and repositories altered after signing refused.
# Run by `make test` as root after `make package`.
source "$(dirname "$0")/../lifecycle/lib.sh"
run_isolated "$@"

DEB=$(ls "$REPO"/target/debian/nydus-overlayfs_*.deb)
RPM=$(ls "$REPO"/target/generate-rpm/nydus-overlayfs-*.rpm)
VERSION=$(dpkg-deb -f "$DEB" Version)
UPGRADE_VERSION=$VERSION.1
PUBLISHED=$LIFECYCLE_WORK/repo
LIST=/etc/apt/sources.list.d/nydus-overlayfs.list
KEYRING=/etc/apt/keyrings/nydus-overlayfs.gpg
# gpg's own files (reading keys) go here, not to ~/.gnupg.
export GNUPGHOME=$LIFECYCLE_WORK/gnupg-scratch
mkdir -m 700 "$GNUPGHOME"

# A throwaway key in a private GnuPG home: no secret key is ever committed.
new_key() {
    local home=$1
    mkdir -m 700 "$home"
    GNUPGHOME=$home gpg --batch --quiet --passphrase '' --quick-gen-key "$2 <test@nydus-overlayfs.invalid>" \
        rsa3072 sign never 2>/dev/null
}
stop_agents() {
    for home in "$LIFECYCLE_WORK"/gnupg-*; do
        [ -d "$home" ] && gpgconf --homedir "$home" --kill gpg-agent 2>/dev/null
    done
    return 0
}
trap stop_agents EXIT

# apt-get update of our source only (the Debian lists in the cached chroot
# stay as they are: no network), its output in LOG.
update_ours() {
    in_chroot apt-get update -o Dir::Etc::SourceList="$LIST" -o Dir::Etc::SourceParts=- \
        -o APT::Get::List-Cleanup=false >"$1" 2>&1
}
# Whether apt's output has no warning or error line. (Not counted: that
# apt's _apt user cannot write to the chroot's lists, when it runs without
# the privileges to switch to it; nothing to do with this repository.)
clean_output() {
    ! grep -E '^(W|E):' "$1" | grep -v 'Download is performed unsandboxed as root'
}
installed_version() {
    in_chroot dpkg-query -W -f='${Version}' nydus-overlayfs
}
# Whether apt offers VERSION of nydus-overlayfs from any source.
offered() {
    in_chroot apt-cache madison nydus-overlayfs | awk -F' [|] ' '{print $2}' | grep -qx "$1"
}
# point_at DIR: our source line, for the repository at DIR in the chroot.
point_at() {
    echo "deb [signed-by=$KEYRING] file:$1/deb stable main" >"$ROOT$LIST"
}

step "make-repo publishes $VERSION, signed with a throwaway key"
new_key "$LIFECYCLE_WORK/gnupg-repo" "nydus-overlayfs test repository"
check "tools/make-repo (REPO_KEY= a GnuPG home) makes the repositories" \
    quietly "$LIFECYCLE_WORK/make-repo.log" env REPO_KEY="$LIFECYCLE_WORK/gnupg-repo" \
    "$REPO/tools/make-repo" "$PUBLISHED" "$DEB" "$RPM"
for file in deb/dists/stable/main/binary-amd64/Packages deb/dists/stable/main/binary-amd64/Packages.gz \
    deb/dists/stable/Release deb/dists/stable/InRelease "deb/pool/main/n/nydus-overlayfs/$(basename "$DEB")" \
    KEY.gpg KEY.asc; do
    check "$file is there" test -s "$PUBLISHED/$file"
done
check "InRelease is clearsigned by the key in KEY.gpg (gpgv)" \
    quietly "$LIFECYCLE_WORK/gpgv.log" gpgv --keyring "$PUBLISHED/KEY.gpg" "$PUBLISHED/deb/dists/stable/InRelease"
check "KEY.gpg holds the public key only" \
    bash -c "gpg --list-packets '$PUBLISHED/KEY.gpg' 2>/dev/null | grep -q ':public key packet:' &&
        ! gpg --list-packets '$PUBLISHED/KEY.gpg' 2>/dev/null | grep -q ':secret'"
check "no secret key anywhere in the repository" \
    test -z "$(grep -rl -e 'PRIVATE KEY BLOCK' "$PUBLISHED")"

step "A node (bookworm, Debian's containerd) with the repository in sources.list.d, signed-by its key"
new_chroot
check "containerd installs (from the cached chroot's lists)" quietly "$LIFECYCLE_WORK/containerd.log" \
    in_chroot apt-get install -q -y containerd
mkdir -p "$ROOT/etc/nydus" "$ROOT/srv/repo" "$ROOT/etc/apt/keyrings"
cp "$REPO/tests/fixtures/nydus-snapshotter-config.toml" "$ROOT/etc/nydus/config.toml"
mount --bind "$PUBLISHED" "$ROOT/srv/repo"
install -m 644 "$PUBLISHED/KEY.gpg" "$ROOT$KEYRING"
point_at /srv/repo
echo "-- $LIST: $(cat "$ROOT$LIST")"
check "apt-get update reads the repository" update_ours "$LIFECYCLE_WORK/update-1.log"
check "with no warning (signature good, nothing unauthenticated)" clean_output "$LIFECYCLE_WORK/update-1.log"
echo "-- apt-cache policy nydus-overlayfs:"
in_chroot apt-cache policy nydus-overlayfs | tee "$LIFECYCLE_WORK/policy-1" | sed 's/^/   /'
check "the candidate is $VERSION from file:/srv/repo/deb stable/main" \
    bash -c "grep -q 'Candidate: $VERSION\$' '$LIFECYCLE_WORK/policy-1' &&
        grep -q 'file:/srv/repo/deb stable/main amd64 Packages' '$LIFECYCLE_WORK/policy-1'"
check "apt-get install nydus-overlayfs installs it from the repository (and fuse3)" \
    quietly "$LIFECYCLE_WORK/install.log" in_chroot apt-get install -q -y nydus-overlayfs
check "$VERSION is installed" test "$(installed_version)" = "$VERSION"
check "nydus-overlayfs-setup enable switches the node" quietly "$LIFECYCLE_WORK/enable.log" \
    in_chroot nydus-overlayfs-setup enable
check "nydus-overlayfs-setup status: switched (exit 0)" quietly "$LIFECYCLE_WORK/status-1.log" \
    in_chroot nydus-overlayfs-setup status
echo "-- what a scanner reads from the installed /usr/sbin/nydus-overlayfs (rust-audit-info, cargo auditable's .dep-v0):"
rust-audit-info "$ROOT/usr/sbin/nydus-overlayfs" >"$LIFECYCLE_WORK/audit.json"
python3 -c 'import json, sys; print("   " + ", ".join(p["name"] + " " + p["version"] for p in json.load(open(sys.argv[1]))["packages"] if p.get("kind", "runtime") == "runtime"))' \
    "$LIFECYCLE_WORK/audit.json"
check "the installed helper names its crates, rustix among them" \
    grep -q '"name":"rustix","version":"[0-9][^"]*"' "$LIFECYCLE_WORK/audit.json"
echo '# edited by the admin' >>"$ROOT/etc/nydus-overlayfs/setup.toml"
cp "$ROOT/etc/nydus-overlayfs/setup.toml" "$LIFECYCLE_WORK/setup.edited"
cp "$ROOT/etc/containerd/config.toml" "$LIFECYCLE_WORK/containerd-switched"

step "$UPGRADE_VERSION, built now, published into the same repository, and apt-get upgrade"
# Built here, from the package at a higher version (dpkg-deb, as deb.sh does):
# `cargo deb --deb-version` would do as well, but it deletes the other
# versions' .debs from target/debian, which later tests use.
UPGRADE_DEB=$LIFECYCLE_WORK/nydus-overlayfs_${UPGRADE_VERSION}_amd64.deb
check "the package at $UPGRADE_VERSION is built" repack_deb_at_version "$DEB" "$UPGRADE_VERSION" "$UPGRADE_DEB"
check "(its control file says $UPGRADE_VERSION)" test "$(dpkg-deb -f "$UPGRADE_DEB" Version)" = "$UPGRADE_VERSION"
check "make-repo publishes it with the same key" quietly "$LIFECYCLE_WORK/make-repo-2.log" \
    env REPO_KEY="$LIFECYCLE_WORK/gnupg-repo" "$REPO/tools/make-repo" "$PUBLISHED" "$UPGRADE_DEB"
check "Packages lists both versions" \
    test "$(grep -c '^Version: ' "$PUBLISHED/deb/dists/stable/main/binary-amd64/Packages")" = 2
check "apt-get update" update_ours "$LIFECYCLE_WORK/update-2.log"
check "with no warning" clean_output "$LIFECYCLE_WORK/update-2.log"
check "apt-get upgrade succeeds without a prompt" quietly "$LIFECYCLE_WORK/upgrade.log" \
    in_chroot apt-get upgrade -q -y
grep -E '^(Unpacking|Setting up) nydus-overlayfs' "$LIFECYCLE_WORK/upgrade.log" | sed 's/^/   /'
check "$UPGRADE_VERSION is installed" test "$(installed_version)" = "$UPGRADE_VERSION"
check "the admin's conffile edit survived" cmp "$ROOT/etc/nydus-overlayfs/setup.toml" "$LIFECYCLE_WORK/setup.edited"
check "containerd's config.toml is as switched before the upgrade" \
    cmp "$ROOT/etc/containerd/config.toml" "$LIFECYCLE_WORK/containerd-switched"
check "nydus-overlayfs-setup status: still switched (exit 0)" quietly "$LIFECYCLE_WORK/status-2.log" \
    in_chroot nydus-overlayfs-setup status

step "Repositories altered after signing are refused"
# tamper NAME: a copy of the published repository at /srv/NAME in the chroot,
# which the caller then alters; our source points at it.
tamper() {
    cp -a "$PUBLISHED" "$ROOT/srv/$1"
    point_at "/srv/$1"
}
# refused NAME WHAT: apt-get update fails, says WHAT, and the forged version
# is not offered.
refused() {
    local log=$LIFECYCLE_WORK/update-$1.log
    if update_ours "$log"; then
        echo "apt-get update succeeded:"
        sed 's/^/   /' "$log"
        return 1
    fi
    echo "-- apt-get update exits non-zero:"
    grep -E '^(W|E|Err):|signature|Hash Sum|unexpected size|Hashes of' "$log" | sed 's/^/   /'
    grep -q "$2" "$log" && ! offered 0.1.0-99
}
packages() {
    echo "$ROOT/srv/$1/deb/dists/stable/main/binary-amd64/Packages"
}
# A forged version in Packages (and Packages.gz made from it, as an attacker
# would): same size, other bytes.
forge_packages() {
    sed -i "s/^Version: $UPGRADE_VERSION\$/Version: 0.1.0-99/" "$(packages "$1")"
    check "(the forged Packages of /srv/$1 now offers 0.1.0-99)" grep -qx 'Version: 0.1.0-99' "$(packages "$1")"
    gzip -9nc "$(packages "$1")" >"$(packages "$1").gz"
}

tamper tampered-packages
forge_packages tampered-packages
check "Packages altered after signing: apt refuses it (Hash Sum mismatch)" refused tampered-packages 'Hash Sum mismatch'

# release_over_forged NAME: a Release whose hashes are the forged files' (as an
# attacker would write it); the signed files it replaces go to old-NAME/.
release_over_forged() {
    local dists=$ROOT/srv/$1/deb/dists/stable old=$LIFECYCLE_WORK/old-$1
    mkdir -p "$old"
    mv "$dists/Release" "$dists/InRelease" "$dists/Release.gpg" "$old/"
    (cd "$dists" && apt-ftparchive -o APT::FTPArchive::Release::Suite=stable release .) >"$old/Release.forged"
    cp "$old/Release.forged" "$dists/Release"
}

tamper tampered-release
forge_packages tampered-release
release_over_forged tampered-release
# The forged Release under the original signature.
old=$LIFECYCLE_WORK/old-tampered-release
{ sed -n '1,/^$/p' "$old/InRelease"; cat "$old/Release.forged"; sed -n '/^-----BEGIN PGP SIGNATURE-----$/,$p' "$old/InRelease"; } \
    >"$ROOT/srv/tampered-release/deb/dists/stable/InRelease"
cp "$old/Release.gpg" "$ROOT/srv/tampered-release/deb/dists/stable/Release.gpg"
check "InRelease altered after signing: apt refuses it (bad signature)" refused tampered-release 'BADSIG'

tamper other-key
new_key "$LIFECYCLE_WORK/gnupg-other" "someone else"
forge_packages other-key
release_over_forged other-key
check "(the forged Release signed by another key)" env GNUPGHOME="$LIFECYCLE_WORK/gnupg-other" gpg --batch --yes --quiet \
    --clearsign -o "$ROOT/srv/other-key/deb/dists/stable/InRelease" "$ROOT/srv/other-key/deb/dists/stable/Release"
check "A repository signed by a key other than signed-by's: apt refuses it (NO_PUBKEY)" refused other-key 'NO_PUBKEY'

umount "$ROOT/srv/repo"
umount "$ROOT/proc"
finish
