#!/usr/bin/env bash
# The Ansible role for real: ansible-playbook (from PyPI) against a Debian
# chroot through the community.general.chroot connection. The first run
# switches the node, the second changes nothing, the remove play restores
# the original files byte for byte; ansible-lint is clean. Run by make test.
source "$(dirname "$0")/../lifecycle/lib.sh"
run_isolated "$@"

export PATH=$CACHE/ansible-venv/bin:$PATH
export ANSIBLE_ROLES_PATH=$REPO/contrib/ansible/roles ANSIBLE_LOCAL_TEMP=$LIFECYCLE_WORK/ansible-tmp \
    ANSIBLE_NOCOLOR=1 ANSIBLE_RETRY_FILES_ENABLED=0
DEB=$(ls "$REPO"/target/debian/nydus-overlayfs_*.deb)
new_chroot
in_chroot apt-get install -q -y python3 containerd >/dev/null
mkdir -p "$ROOT/etc/nydus"
cp "$REPO/tests/fixtures/nydus-snapshotter-config.toml" "$ROOT/etc/nydus/config.toml"
cp "$ROOT/etc/containerd/config.toml" "$LIFECYCLE_WORK/containerd-config.orig"
cp "$ROOT/etc/nydus/config.toml" "$LIFECYCLE_WORK/nydus-config.orig"
cat >"$LIFECYCLE_WORK/inventory" <<INVENTORY
node ansible_host=$ROOT ansible_connection=community.general.chroot ansible_become=false ansible_python_interpreter=/usr/bin/python3
INVENTORY

# playbook NAME.yml [ARGS...]: runs it, keeps its output, prints its recap.
playbook() {
    local name=$1
    shift
    ansible-playbook -i "$LIFECYCLE_WORK/inventory" "$REPO/contrib/ansible/$name" "$@" >"$LIFECYCLE_WORK/run.log" 2>&1
    local status=$?
    grep -A1 '^PLAY RECAP' "$LIFECYCLE_WORK/run.log" | tail -n 1
    [ "$status" -eq 0 ] || tail -n 30 "$LIFECYCLE_WORK/run.log"
    return "$status"
}
recap_has() {
    grep -A1 '^PLAY RECAP' "$LIFECYCLE_WORK/run.log" | tail -n 1 | grep -qE "$1"
}

step "ansible-lint"
check "the role and playbooks are lint-clean" \
    quietly "$LIFECYCLE_WORK/lint.log" ansible-lint --offline "$REPO/contrib/ansible"

step "First run: install the .deb and switch the node"
check "install.yml succeeds" playbook install.yml -e "nydus_overlayfs_package_file=$DEB"
check "and reports changes" recap_has 'changed=[1-9]'
check "the restart handler was notified, and skipped itself (no systemd in a chroot)" \
    bash -c "grep -A1 'RUNNING HANDLER \[nydus_overlayfs : Restart nydus-snapshotter and containerd\]' '$LIFECYCLE_WORK/run.log' | grep -q '^skipping: \[node\]'"
check "containerd's config.toml is switched" grep -q 'snapshotter = "nydus"' "$ROOT/etc/containerd/config.toml"
check "status on the node: switched (exit 0)" in_chroot nydus-overlayfs-setup status

step "Second run: nothing to change"
check "install.yml succeeds again" playbook install.yml -e "nydus_overlayfs_package_file=$DEB"
check "with changed=0" recap_has 'changed=0 '

step "Remove play: switch back and purge"
check "remove.yml succeeds" playbook remove.yml
check "and reports changes" recap_has 'changed=[1-9]'
check "containerd's config.toml is byte-identical to the original" \
    cmp "$ROOT/etc/containerd/config.toml" "$LIFECYCLE_WORK/containerd-config.orig"
check "nydus-snapshotter's config.toml is byte-identical to the original" \
    cmp "$ROOT/etc/nydus/config.toml" "$LIFECYCLE_WORK/nydus-config.orig"
check "the package is purged" test -z "$(in_chroot dpkg-query -W -f='${Status}' nydus-overlayfs 2>/dev/null || true)"
check "the copied package file is gone" test ! -e "$ROOT/var/cache/nydus-overlayfs-ansible"
check "remove.yml again succeeds" playbook remove.yml
check "with changed=0" recap_has 'changed=0 '
umount "$ROOT/proc"
finish
