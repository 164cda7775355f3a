#!/usr/bin/env bash
# Dependency data for scanners: both binaries, as the .deb and the .rpm ship
# them, carry their crate list the way `cargo auditable` embeds it (the
# .dep-v0 section, zlib-compressed JSON). Read here with rust-audit-info, the
# reference reader (cargo audit bin, trivy, syft and grype read the same
# section); its list is checked against Cargo.lock. The section is in no
# loaded segment, so exec never maps it: it costs a few hundred bytes on disk
# and nothing at mount time.
# Both architectures' packages (amd64 in target/, arm64 in target/arm64/).
# Run by `make test` after `make package-all`; needs rust-audit-info (make deps-audit).
set -euo pipefail
REPO=$(cd "$(dirname "$0")/../.." && pwd)
# shellcheck source=tests/report.sh
source "$REPO/tests/report.sh"

WORK=$(mktemp -d /tmp/nydus-overlayfs-audit.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
for arch in amd64 arm64; do
    out=$REPO/target
    [ "$arch" = amd64 ] || out=$REPO/target/$arch
    DEB=$(ls "$out"/debian/nydus-overlayfs_*_"$arch".deb 2>/dev/null) && RPM=$(ls "$out"/generate-rpm/nydus-overlayfs-*.rpm) ||
        { echo "$0: no $arch packages in $out: run make package-all first" >&2; exit 1; }
    mkdir -p "$WORK/$arch/deb" "$WORK/$arch/rpm"
    dpkg-deb -x "$DEB" "$WORK/$arch/deb"
    # bookworm's rpm2cpio exits 1 after writing this (zstd) payload whole; cpio's
    # status and the files' presence below are what count.
    (cd "$WORK/$arch/rpm" && { rpm2cpio "$RPM" || true; } | cpio -idm --quiet)
done

# The section's size in bytes, or nothing.
section_size() {
    local hex
    hex=$(readelf -SW "$1" | sed 's/^ *\[ *[0-9]*\]//' | awk '$1 == ".dep-v0" { print $5 }')
    [ -z "$hex" ] || echo $((16#$hex))
}
# Whether no program header (segment) maps the section.
not_loaded() {
    ! readelf -lW "$1" | sed -n '/Section to Segment mapping/,$p' | grep -q '\.dep-v0'
}
# The crate list rust-audit-info reads, checked against Cargo.lock: the root
# package at Cargo.toml's version, every crate at its locked version, and the
# crates each binary must have.
matches_lock() {
    rust-audit-info "$1" >"$WORK/audit.json"
    python3 - "$WORK/audit.json" "$REPO/Cargo.lock" "$2" <<'EOF'
import json, sys, tomllib
audit = json.load(open(sys.argv[1]))["packages"]
lock = tomllib.load(open(sys.argv[2], "rb"))["package"]
locked = {(p["name"], p["version"]) for p in lock}
names = {p["name"] for p in audit}
root = [p for p in audit if p.get("root")]
problems = [f"{p['name']} {p['version']} is not in Cargo.lock" for p in audit if (p["name"], p["version"]) not in locked]
if [p["name"] for p in root] != ["nydus-overlayfs"]:
    problems.append(f"the root package is {root}")
problems += [f"{name} is missing" for name in sys.argv[3].split() if name not in names]
runtime = sorted(f"{p['name']} {p['version']}" for p in audit if p.get("kind", "runtime") == "runtime" and not p.get("root"))
print(f"   {len(audit)} crates ({len(runtime)} runtime, the rest build-time): " + ", ".join(runtime))
for problem in problems:
    print("   " + problem)
sys.exit(1 if problems else 0)
EOF
}

for package in {amd64,arm64}/{deb,rpm}; do
    format=${package#*/}
    for binary in nydus-overlayfs nydus-overlayfs-setup; do
        case $format in deb) path=$WORK/$package/usr/sbin/$binary ;; rpm) path=$WORK/$package/usr/bin/$binary ;; esac
        step "$binary in the ${package%/*} .$format"
        check "is there" test -x "$path"
        size=$(section_size "$path")
        check "has a .dep-v0 section (${size:-no} bytes of $(stat -c %s "$path"))" test -n "$size"
        check "which no segment loads (exec never maps it)" not_loaded "$path"
        case $binary in
            nydus-overlayfs) needs="rustix clap" ;;
            *) needs="rustix clap toml_edit serde_json" ;;
        esac
        check "rust-audit-info reads its crates, all as Cargo.lock has them, $needs among them" \
            matches_lock "$path" "$needs"
    done
done
finish
