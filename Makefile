# nydus-overlayfs — build, test, package and install.
#
#   make package   .deb and .rpm in target/debian/ and target/generate-rpm/, lint-clean (MAINTAINER=…)
#   make package ARCH=arm64 | package-all   the same for arm64 in target/arm64/ (root), or for both
#   make check     fast checks, no root: fmt, clippy (xtask too), and the tests that need neither root nor packages
#   make repo      signed APT and RPM repositories of them in target/repo/ (REPO_KEY=…)
#   make image     the node-installer image: an OCI archive of both architectures in target/image/ (root)
#   make test      every test (as root: the tests mount overlayfs and run dpkg/rpm)
#   make install DESTDIR=… PREFIX=/usr    for builders of other distros
#   make bench     per-mount cost, memory and size (root)
#   make fuzz | stress   long runs of the fuzzer and of the load and fault tests
#   make build | man | lint
#   make test-repo | test-repro | test-arm64 | test-image   only the repository, reproducibility, emulated arm64 or image tests

CARGO ?= cargo

# Installation directories (GNU names). SYSCONFDIR and LOCALSTATEDIR are
# not under PREFIX: the admin's settings live in /etc whatever the prefix.
PREFIX ?= /usr/local
SBINDIR ?= $(PREFIX)/sbin
DATADIR ?= $(PREFIX)/share
MANDIR ?= $(DATADIR)/man
DOCDIR ?= $(DATADIR)/doc/nydus-overlayfs
LICENSEDIR ?= $(DATADIR)/licenses/nydus-overlayfs
LIBDIR ?= $(PREFIX)/lib
SYSTEMDUNITDIR ?= $(LIBDIR)/systemd/system
MODULESLOADDIR ?= $(LIBDIR)/modules-load.d
SYSCONFDIR ?= /etc
LOCALSTATEDIR ?= /var
# nydus-overlayfs-setup's completions go where each shell loads the
# package-owned ones from (Debian's zsh: vendor-completions, see DEB_LAYOUT).
BASHCOMPLETIONDIR ?= $(DATADIR)/bash-completion/completions
ZSHCOMPLETIONDIR ?= $(DATADIR)/zsh/site-functions
FISHCOMPLETIONDIR ?= $(DATADIR)/fish/vendor_completions.d
# mount(8) runs /sbin/mount.fuse.nydus-overlayfs for type fuse.nydus-overlayfs:
# the link that registers the type goes here. Empty: no link (the RPM's
# post-install makes it: cargo-generate-rpm cannot ship links).
MOUNTHELPERDIR ?= $(SBINDIR)
# yes: gzip the man pages, as packages ship them.
GZIP_MAN ?= no
# yes: install the lintian overrides (Debian packages only).
LINTIAN_OVERRIDES ?= no

# The .deb's Maintainer: field and its changelog's trailer name whoever
# builds it: make package MAINTAINER="Name <address>" (docs/packages.md). The
# default's domain is under .invalid (RFC 2606), which never resolves: it
# passes for no one's address.
MAINTAINER ?= MAINTAINER not set <maintainer@unset.invalid>
export MAINTAINER

# Reproducible packages (tests/repro/packages.sh): the same commit makes
# bit-identical .deb and .rpm whatever the build's path, time, time zone,
# umask and locale. cargo-deb and cargo-generate-rpm date every file, the
# archives and the RPM's build time with SOURCE_DATE_EPOCH: the last commit's
# time (the changelog's outside a git checkout; a builder may set it). The
# absolute paths rustc would write into the binaries (panic locations in the
# dependencies' sources) are remapped to fixed ones. The build ID stays: it is
# a hash of the linked contents, so it is the same when they are.
ifeq ($(origin SOURCE_DATE_EPOCH),undefined)
SOURCE_DATE_EPOCH := $(shell [ -e .git ] && git log -1 --format=%ct 2>/dev/null || \
	dpkg-parsechangelog -l debian/changelog -STimestamp)
endif
export SOURCE_DATE_EPOCH
CARGO_HOME ?= $(HOME)/.cargo
REMAP_PATHS := --remap-path-prefix=$(CURDIR)=/build/nydus-overlayfs --remap-path-prefix=$(CARGO_HOME)=/cargo

# The binaries are linked statically (glibc's crt-static): the helper starts
# once per container, and dynamic loading made it 1.33x the floor instead of
# 1.05x (make bench; docs/performance.md). The flag must reach only the
# target's artifacts, not proc-macros, hence --target even for the host.
#
# ARCH: the Debian architecture to build and package for; the host's by
# default. Each one's Rust target and RPM architecture are in this table.
# Another architecture's binaries are built by Debian sid's Rust toolchain
# in a cached chroot (tools/cross-toolchain, root only; this machine's rustup
# toolchain has no other target) where the tree is /build/nydus-overlayfs and
# CARGO_HOME /cargo, and all its outputs go under target/ARCH/.
ARCHES := amd64 arm64
TRIPLE_amd64 := x86_64-unknown-linux-gnu
TRIPLE_arm64 := aarch64-unknown-linux-gnu
RPM_ARCH_amd64 := x86_64
RPM_ARCH_arm64 := aarch64
# What runs the architecture's programs here (cargo's runner; make test-arm64).
QEMU_arm64 := qemu-aarch64-static
HOST_ARCH := $(shell dpkg --print-architecture)
ARCH ?= $(HOST_ARCH)
TRIPLE := $(or $(TRIPLE_$(ARCH)),$(error ARCH=$(ARCH) is not one of: $(ARCHES); choose one of them))
RPM_ARCH := $(RPM_ARCH_$(ARCH))
out_of = target$(if $(filter-out $(HOST_ARCH),$(1)),/$(1))
OUT := $(call out_of,$(ARCH))
ifeq ($(ARCH),$(HOST_ARCH))
BUILD_CARGO := $(CARGO)
else
BUILD_CARGO = NYDUS_OVERLAYFS_TEST_CACHE=$(TEST_CACHE) tools/cross-toolchain $(ARCH) cargo
# Nothing to remap: in the chroot the tree and CARGO_HOME are at those fixed paths.
REMAP_PATHS :=
# The toolchain chroot is made from a debootstrap of sid.
CROSS_DEBS := debootstrap
DEB_ARGS := --target $(TRIPLE) --variant $(ARCH)
endif
CARGO_TARGET := --target $(TRIPLE)
TARGET_VAR := CARGO_TARGET_$(shell echo $(TRIPLE) | tr a-z- A-Z_)
STATIC := $(TARGET_VAR)_RUSTFLAGS="-C target-feature=+crt-static $(REMAP_PATHS)"
RELEASE_DIR := target/$(TRIPLE)/release

# The setup command finds the drop-ins, its settings and its journal here.
BUILD_ENV = $(STATIC) NYDUS_OVERLAYFS_SYSCONFDIR=$(SYSCONFDIR) NYDUS_OVERLAYFS_DATADIR=$(DATADIR) \
	NYDUS_OVERLAYFS_LOCALSTATEDIR=$(LOCALSTATEDIR)

# Where each package format puts things. Debian: /usr/sbin comes before
# /usr/bin in systemd's PATH, so containerd's mount.fuse runs our helper and
# not the Go one Debian's nydus-snapshotter ships as /usr/bin/nydus-overlayfs
# (no file conflict either). RPM: Fedora 42 merged /usr/sbin into /usr/bin.
PKGROOT := $(OUT)/pkgroot
DEB_LAYOUT := PREFIX=/usr SBINDIR=/usr/sbin SYSTEMDUNITDIR=/lib/systemd/system LICENSEDIR= GZIP_MAN=yes \
	LINTIAN_OVERRIDES=yes
RPM_LAYOUT := PREFIX=/usr SBINDIR=/usr/bin MOUNTHELPERDIR= GZIP_MAN=yes
# Debian's zsh reads packages' completions from vendor-completions
# (site-functions is the local admin's).
DEB_LAYOUT += ZSHCOMPLETIONDIR=/usr/share/zsh/vendor-completions

# Debian packages: tests need real mount.fuse (fuse3), mount(8)/setpriv/unshare
# (util-linux), man(1) (man-db), and debootstrap, piuparts and rpm for the
# package lifecycle, strace for fault injection; packaging needs lintian and rpmlint.
PACKAGE_DEBS := lintian rpm rpmlint
TEST_DEBS := fuse3 util-linux man-db debootstrap piuparts rpm python3-venv strace file
# The fleet tests' Ansible, from PyPI, in a virtual environment in TEST_CACHE.
ANSIBLE_REQUIREMENTS := ansible==12.3.0 ansible-lint==26.10.1
CARGO_DEB_VERSION := 3.8.0
CARGO_AUDITABLE_VERSION := 0.7.7
CARGO_BUILD := auditable build
# What the dependency-data test reads the binaries with.
RUST_AUDIT_INFO_VERSION := 0.5.4
CARGO_FUZZ_VERSION := 0.13.2
# How long make fuzz runs (make test runs a short smoke run).
FUZZ_SECONDS ?= 600
CARGO_GENERATE_RPM_VERSION := 0.21.1
# The end-to-end test: htpasswd for the registry's password file, static
# libc for the image's probes, python3 to push the image, strace to watch
# containerd call the helper, debootstrap for each suite's node. Its other
# parts are cached in TEST_CACHE: a debootstrap chroot per suite (made by the
# test), sid's nydus-snapshotter, docker-registry, busybox-static and the
# CRI api.proto (golang-k8s-cri-api-dev) unpacked, a Python venv with grpcio
# and grpcio-tools (the CRI client's stubs are generated from that api.proto
# at test time), and nydusd and nydus-image, built from the crate nydus-rs
# (no Debian suite ships them; a few minutes, once). systemd-nspawn
# (systemd-container) boots the node of the suite bookworm-systemd.
E2E_DEBS := apache2-utils libc6-dev python3 python3-venv strace curl debootstrap systemd-container skopeo
E2E_CRI_REQUIREMENTS := grpcio==1.68.1 grpcio-tools==1.68.1 PyYAML==6.0.2
NYDUS_RS_DIR = $(TEST_CACHE)/nydus-rs-2.2.0
# The Debian suites whose containerd the end-to-end test runs a node of
# (make test-e2e SUITES="sid" for one); sid-k3s is the sid node with containerd
# laid out as k3s runs it (tests/e2e/run.sh); bookworm-systemd is a bookworm node
# booted with systemd (tests/e2e/systemd-node.sh).
SUITES ?= bookworm trixie sid sid-k3s bookworm-systemd
RUN_E2E = NYDUS_OVERLAYFS_TEST_CACHE=$(TEST_CACHE) SUITES="$(SUITES)" tests/e2e/run.sh
# Cached between runs on this machine: Debian's containerd of three releases
# and sid's nydus-snapshotter, unpacked (not installed), and the lifecycle
# tests' debootstrap chroot.
TEST_CACHE ?= /var/cache/nydus-overlayfs-tests

# make repo: the signed APT and RPM repositories in REPO_DIR
# (docs/packages.md, Repositories): apt-ftparchive (apt-utils) for APT,
# rpmsign (rpm) and createrepo_c (createrepo-c) for RPM, gpg to sign.
# REPO_KEY: a secret key file or a GnuPG home; without it an ephemeral key
# signs this one build (and make-repo says so).
REPO_DIR ?= target/repo
REPO_SUITE ?= stable
REPO_DEBS := apt-utils createrepo-c gnupg rpm
# The reproducibility test: git for the clones, diffoscope to show where two
# builds differ (with what it needs to open .deb, .rpm and ELF files).
REPRO_DEBS := git diffoscope-minimal python3-debian python3-rpm binutils xz-utils
# The completions test loads the completions in the shells themselves.
COMPLETION_DEBS := bash zsh fish

# make image: the node-installer image a privileged DaemonSet runs
# (docs/packages.md, The node-installer image): FROM scratch, the release
# binaries of each of IMAGE_ARCHES in /usr/sbin, under one OCI image index,
# packed by `cargo xtask image` as the OCI archive
# IMAGE_DIR/nydus-overlayfs-installer-VERSION.tar. The binaries are built with
# the packages' PREFIX (/usr, where the image has them): they are the
# packages' own, byte for byte, and after make package nothing is rebuilt.
IMAGE_ARCHES ?= $(ARCHES)
IMAGE_DIR ?= target/image
IMAGE_LAYOUT := PREFIX=/usr
# Its test reads the archive with skopeo and umoci, the JSON with jq, the
# binaries' architecture with file, and runs the arm64 one under qemu.
IMAGE_DEBS := skopeo umoci jq file qemu-user-static

.PHONY: all build man install package lint check test test-e2e bench fuzz stress deps-package deps-test deps-e2e deps-fuzz clean
.PHONY: package-all test-arm64 emulated-tests deps-arm64 repo deps-repo deps-repro deps-audit deps-build deps-completions test-repro test-repo completions
.PHONY: image test-image deps-image

all: build

# The binaries carry their crate list, names, versions and sources, in the
# .dep-v0 section `cargo auditable` adds (zlib-compressed JSON), so that
# scanners (cargo audit bin, trivy, syft, grype, rust-audit-info) read what is
# in the installed binary, not what a lock file said (tests/audit/dep-data.sh).
build: deps-build
	$(BUILD_ENV) $(BUILD_CARGO) $(CARGO_BUILD) --release --locked $(CARGO_TARGET)

install: completions

deps-build:
	tools/ensure-cargo-tool cargo-auditable $(CARGO_AUDITABLE_VERSION)
	$(if $(CROSS_DEBS),tools/ensure-debian-packages $(CROSS_DEBS))

# The build steps are Rust (xtask/; `cargo xtask` is an alias in .cargo/config.toml).
man:
	$(CARGO) xtask man target/man

completions:
	$(CARGO) xtask completions target/completions

# The one list of installed files: the packages are made from what this puts
# in a staging DESTDIR.
install: build man
	install -d $(DESTDIR)$(SBINDIR) $(DESTDIR)$(MANDIR)/man8
	install -m 755 $(RELEASE_DIR)/nydus-overlayfs $(RELEASE_DIR)/nydus-overlayfs-setup $(DESTDIR)$(SBINDIR)/
	$(if $(MOUNTHELPERDIR),install -d $(DESTDIR)$(MOUNTHELPERDIR) && \
		ln -sfr $(DESTDIR)$(SBINDIR)/nydus-overlayfs $(DESTDIR)$(MOUNTHELPERDIR)/mount.fuse.nydus-overlayfs)
	install -m 644 target/man/nydus-overlayfs.8 target/man/nydus-overlayfs-setup.8 \
		target/man/mount.fuse.nydus-overlayfs.8 $(DESTDIR)$(MANDIR)/man8/
	$(if $(filter yes,$(GZIP_MAN)),gzip -9nf $(DESTDIR)$(MANDIR)/man8/nydus-overlayfs.8 \
		$(DESTDIR)$(MANDIR)/man8/nydus-overlayfs-setup.8 $(DESTDIR)$(MANDIR)/man8/mount.fuse.nydus-overlayfs.8)
	install -D -m 644 packaging/containerd/nydus-snapshotter.toml $(DESTDIR)$(DATADIR)/nydus-overlayfs/containerd/nydus-snapshotter.toml
	install -D -m 644 packaging/containerd/nydus-cri.toml $(DESTDIR)$(DATADIR)/nydus-overlayfs/containerd/nydus-cri.toml
	install -D -m 644 systemd/containerd.service.d/nydus-overlayfs.conf \
		$(DESTDIR)$(SYSTEMDUNITDIR)/containerd.service.d/nydus-overlayfs.conf
	install -D -m 644 packaging/modules-load.d/nydus-overlayfs.conf $(DESTDIR)$(MODULESLOADDIR)/nydus-overlayfs.conf
	install -D -m 644 README.md $(DESTDIR)$(DOCDIR)/README.md
	@# The manual the README links to, beside it, so that its links lead somewhere.
	install -d $(DESTDIR)$(DOCDIR)/docs
	install -m 644 docs/*.md $(DESTDIR)$(DOCDIR)/docs/
	$(if $(LICENSEDIR),install -D -m 644 LICENSE $(DESTDIR)$(LICENSEDIR)/LICENSE)
	$(if $(filter yes,$(LINTIAN_OVERRIDES)),install -D -m 644 packaging/lintian-overrides \
		$(DESTDIR)$(DATADIR)/lintian/overrides/nydus-overlayfs)
	install -D -m 644 target/completions/nydus-overlayfs-setup \
		$(DESTDIR)$(BASHCOMPLETIONDIR)/nydus-overlayfs-setup
	install -D -m 644 target/completions/_nydus-overlayfs-setup \
		$(DESTDIR)$(ZSHCOMPLETIONDIR)/_nydus-overlayfs-setup
	install -D -m 644 target/completions/nydus-overlayfs-setup.fish \
		$(DESTDIR)$(FISHCOMPLETIONDIR)/nydus-overlayfs-setup.fish
	@# The admin's settings: never overwritten once there.
	[ -e $(DESTDIR)$(SYSCONFDIR)/nydus-overlayfs/setup.toml ] || \
		install -D -m 644 packaging/setup.toml $(DESTDIR)$(SYSCONFDIR)/nydus-overlayfs/setup.toml

package: deps-package
	rm -rf $(PKGROOT) $(OUT)/debian $(OUT)/generate-rpm
	$(MAKE) --no-print-directory install DESTDIR=$(CURDIR)/$(PKGROOT)/deb $(DEB_LAYOUT)
	$(MAKE) --no-print-directory install DESTDIR=$(CURDIR)/$(PKGROOT)/rpm $(RPM_LAYOUT)
	awk '/^ -- / { print " -- " ENVIRON["MAINTAINER"] substr($$0, index($$0, ">  ") + 1); next } { print }' \
		debian/changelog >target/debian-changelog
	$(CARGO) deb --no-build --locked $(DEB_ARGS) --maintainer "$$MAINTAINER" --output $(OUT)/debian
	$(CARGO) xtask rpm-metadata $(PKGROOT)/rpm $(OUT)/rpm-metadata.toml
	mkdir -p $(OUT)/generate-rpm
	$(CARGO) generate-rpm --metadata-overwrite $(OUT)/rpm-metadata.toml --arch $(RPM_ARCH) --output $(OUT)/generate-rpm
	$(MAKE) --no-print-directory lint

# Every architecture's packages (make package ARCH=… for each).
package-all: $(addprefix package-,$(ARCHES))
package-%:
	$(MAKE) --no-print-directory package ARCH=$*

lint:
	lintian --fail-on error,warning $(OUT)/debian/*.deb
	rpmlint -c packaging/rpmlint.toml $(OUT)/generate-rpm/*.rpm

deps-package:
	tools/ensure-debian-packages $(PACKAGE_DEBS) $(CROSS_DEBS)
	tools/ensure-cargo-tool cargo-deb $(CARGO_DEB_VERSION)
	tools/ensure-cargo-tool cargo-generate-rpm $(CARGO_GENERATE_RPM_VERSION)

deps-test:
	tools/ensure-debian-packages $(TEST_DEBS)
	for suite in bookworm trixie sid; do tools/fetch-suite-debs $$suite $(TEST_CACHE) containerd; done
	tools/fetch-suite-debs sid $(TEST_CACHE) nydus-snapshotter
	tools/ensure-python-venv $(TEST_CACHE)/ansible-venv $(ANSIBLE_REQUIREMENTS)

deps-e2e:
	tools/ensure-debian-packages $(E2E_DEBS)
	tools/fetch-suite-debs sid $(TEST_CACHE) nydus-snapshotter docker-registry busybox-static golang-k8s-cri-api-dev
	tools/ensure-python-venv $(TEST_CACHE)/cri-venv $(E2E_CRI_REQUIREMENTS)
	tools/build-nydus-rs $(NYDUS_RS_DIR)

# The quick tier for every edit: no root, no packages, well under a minute
# warm. Tests that need root, built packages or minutes are ignored there,
# each with its reason; make test runs them.
check:
	$(CARGO) fmt --all --check
	$(CARGO) clippy --locked --workspace --all-targets -- -D warnings
	$(CARGO) test --locked

# Unit and integration tests, make install, the packages' lifecycle under
# dpkg/apt, piuparts and rpm in a chroot, the Ansible role, the image-builder
# recipe and the node-installer image, then a real container end to end.
# Rust tests that need root are marked #[ignore] with the reason, so a plain
# `cargo test` reports them as ignored; make test, which runs as root,
# includes them.
test: deps-test deps-e2e package
	$(STATIC) NYDUS_OVERLAYFS_TEST_CACHE=$(TEST_CACHE) $(CARGO) test --locked $(CARGO_TARGET) -- --include-ignored
	$(MAKE) --no-print-directory fuzz FUZZ_SECONDS=30
	tests/make-install.sh
	tests/completions/shells.sh
	NYDUS_OVERLAYFS_TEST_CACHE=$(TEST_CACHE) tests/lifecycle/deb.sh
	NYDUS_OVERLAYFS_TEST_CACHE=$(TEST_CACHE) tests/lifecycle/rpm.sh
	$(MAKE) --no-print-directory test-arm64
	$(MAKE) --no-print-directory image
	tests/image/oci.sh
	NYDUS_OVERLAYFS_TEST_CACHE=$(TEST_CACHE) tests/fleet/ansible.sh
	NYDUS_OVERLAYFS_TEST_CACHE=$(TEST_CACHE) tests/fleet/image.sh
	tests/audit/dep-data.sh
	NYDUS_OVERLAYFS_TEST_CACHE=$(TEST_CACHE) tests/repo/apt.sh
	tests/repo/rpm.sh
	tests/repo/arches.sh
	tests/repro/packages.sh
	$(RUN_E2E)

# The emulated tier (docs/packages.md, Architectures): the arm64 packages built, their
# unit tests run by qemu-user as cargo's runner, the arm64 helper mounting
# through its mount(2) path under qemu (which has no fsopen), and the .deb
# (apt) and the .rpm (rpm --root) in an arm64 Debian chroot whose programs
# run under qemu (binfmt_misc in a private user namespace). The kernel is
# this machine's throughout.
test-arm64: deps-arm64
	$(MAKE) --no-print-directory package emulated-tests ARCH=arm64

emulated-tests:
	$(STATIC) $(TARGET_VAR)_RUNNER=$(QEMU_$(ARCH)) $(BUILD_CARGO) test --locked $(CARGO_TARGET) --lib --bin nydus-overlayfs-setup
	tests/arm64/legacy-mount.sh
	NYDUS_OVERLAYFS_TEST_CACHE=$(TEST_CACHE) tests/arm64/deb.sh
	NYDUS_OVERLAYFS_TEST_CACHE=$(TEST_CACHE) NYDUS_OVERLAYFS_TEST_ARCH=$(ARCH) tests/lifecycle/rpm.sh

# qemu-user-static: qemu-aarch64-static and its binfmts entry; debootstrap
# for the arm64 chroot; file to tell the binaries' architecture.
ARM64_TEST_DEBS := qemu-user-static debootstrap file util-linux
deps-arm64:
	tools/ensure-debian-packages $(ARM64_TEST_DEBS)

# What the repository, reproducibility and image tests need (each also runs
# alone: make test-repo, make test-repro, make test-image).
test: deps-repo deps-repro deps-audit deps-completions deps-arm64 deps-image

# Both architectures' packages (make package-all; arm64 needs root).
repo: package-all deps-repo
	REPO_KEY="$(REPO_KEY)" REPO_SUITE="$(REPO_SUITE)" tools/make-repo $(REPO_DIR) \
		$(foreach a,$(ARCHES),$(call out_of,$(a))/debian/*.deb $(call out_of,$(a))/generate-rpm/*.rpm)

deps-repo:
	tools/ensure-debian-packages $(REPO_DEBS)

deps-repro:
	tools/ensure-debian-packages $(REPRO_DEBS)

deps-audit:
	tools/ensure-cargo-tool rust-audit-info $(RUST_AUDIT_INFO_VERSION)

deps-completions:
	tools/ensure-debian-packages $(COMPLETION_DEBS)

# The node-installer image (root: the arm64 binaries are built in the
# toolchain chroot), from each architecture's release binaries.
image: $(addprefix image-binaries-,$(IMAGE_ARCHES))
	$(CARGO) xtask image $(IMAGE_DIR) $(foreach a,$(IMAGE_ARCHES),$(a)=target/$(TRIPLE_$(a))/release)
image-binaries-%:
	$(MAKE) --no-print-directory build ARCH=$* $(IMAGE_LAYOUT)

# What the image holds and runs, read back by skopeo and umoci, and that two
# builds from the same binaries are the same bytes (tests/image/oci.sh).
test-image: image deps-image
	tests/image/oci.sh

deps-image:
	tools/ensure-debian-packages $(IMAGE_DEBS)

# Two `make package` runs from two clones at different paths, a minute apart,
# with different umask, TZ and locale: the same sha256s.
test-repro: deps-package deps-repro
	tests/repro/packages.sh

# The signed repositories under apt in a chroot and under rpmkeys/createrepo_c,
# and the crate lists in the packaged binaries.
test-repo: deps-test deps-repo deps-audit package-all
	tests/audit/dep-data.sh
	NYDUS_OVERLAYFS_TEST_CACHE=$(TEST_CACHE) tests/repo/apt.sh
	tests/repo/rpm.sh
	tests/repo/arches.sh

# Only the end-to-end test: pods from a Nydus image through CRI, containerd,
# nydus-snapshotter, nydusd and the installed .deb, one node per suite in
# SUITES.
test-e2e: deps-e2e package image
	$(RUN_E2E)

# Per-mount cost, memory and size against a floor measured in the same run
# (root; the packages' sizes come from make package).
bench: package
	$(STATIC) $(CARGO) bench --locked $(CARGO_TARGET) --bench mount_cost

# The parsing fuzzed (fuzz/fuzz_targets/options.rs) from the seeds of real
# nydus-snapshotter option strings. cargo-fuzz needs rustc's -Z sanitizer
# flags, which the stable toolchain (the only one here) takes with
# RUSTC_BOOTSTRAP=1.
fuzz: deps-fuzz
	mkdir -p fuzz/corpus/options
	RUSTC_BOOTSTRAP=1 $(CARGO) fuzz run options fuzz/corpus/options fuzz/seeds/options -- \
		-max_total_time=$(FUZZ_SECONDS) -print_final_stats=1

deps-fuzz:
	tools/ensure-cargo-tool cargo-fuzz $(CARGO_FUZZ_VERSION)

# The load and fault tests at a larger scale than make test runs them.
stress:
	$(STATIC) NYDUS_OVERLAYFS_LOAD_CONCURRENT=256 NYDUS_OVERLAYFS_LOAD_CYCLES=20000 \
		$(CARGO) test --locked $(CARGO_TARGET) --test load --test faults

clean:
	$(CARGO) clean
