# nydus-overlayfs — build, test, package and install.
#
#   make package   .deb and .rpm in target/debian/ and target/generate-rpm/, lint-clean
#   make check     fast checks, no root: fmt, clippy, and the tests that need neither root nor packages
#   make test      every test (as root: the tests mount overlayfs and run dpkg/rpm)
#   make install DESTDIR=… PREFIX=/usr    for builders of other distros
#   make bench     per-mount cost, memory and size (root)
#   make fuzz | stress   long runs of the fuzzer and of the load and fault tests
#   make build | man | lint

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
# mount(8) runs /sbin/mount.fuse.nydus-overlayfs for type fuse.nydus-overlayfs:
# the link that registers the type goes here. Empty: no link (the RPM's
# post-install makes it: cargo-generate-rpm cannot ship links).
MOUNTHELPERDIR ?= $(SBINDIR)
# yes: gzip the man pages, as packages ship them.
GZIP_MAN ?= no
# yes: install the lintian overrides (Debian packages only).
LINTIAN_OVERRIDES ?= no

# The binaries are linked statically (glibc's crt-static): the helper starts
# once per container, and dynamic loading made it 1.33x the floor instead of
# 1.05x (make bench; README, Performance). The flag must reach only the
# target's artifacts, not proc-macros, hence --target with the host triple.
HOST_TRIPLE := $(shell rustc -vV | sed -n 's/^host: //p')
CARGO_TARGET := --target $(HOST_TRIPLE)
STATIC := CARGO_TARGET_$(shell echo $(HOST_TRIPLE) | tr a-z- A-Z_)_RUSTFLAGS="-C target-feature=+crt-static"
RELEASE_DIR := target/$(HOST_TRIPLE)/release

# The setup command finds the drop-ins, its settings and its journal here.
BUILD_ENV = $(STATIC) NYDUS_OVERLAYFS_SYSCONFDIR=$(SYSCONFDIR) NYDUS_OVERLAYFS_DATADIR=$(DATADIR) \
	NYDUS_OVERLAYFS_LOCALSTATEDIR=$(LOCALSTATEDIR)

# Where each package format puts things. Debian: /usr/sbin comes before
# /usr/bin in systemd's PATH, so containerd's mount.fuse runs our helper and
# not the Go one Debian's nydus-snapshotter ships as /usr/bin/nydus-overlayfs
# (no file conflict either). RPM: Fedora 42 merged /usr/sbin into /usr/bin.
PKGROOT := target/pkgroot
DEB_LAYOUT := PREFIX=/usr SBINDIR=/usr/sbin SYSTEMDUNITDIR=/lib/systemd/system LICENSEDIR= GZIP_MAN=yes \
	LINTIAN_OVERRIDES=yes
RPM_LAYOUT := PREFIX=/usr SBINDIR=/usr/bin MOUNTHELPERDIR= GZIP_MAN=yes

# Debian packages: tests need real mount.fuse (fuse3), mount(8)/setpriv/unshare
# (util-linux), man(1) (man-db), and debootstrap, piuparts and rpm for the
# package lifecycle, strace for fault injection; packaging needs lintian and rpmlint.
PACKAGE_DEBS := lintian rpm rpmlint
TEST_DEBS := fuse3 util-linux man-db debootstrap piuparts rpm python3-venv strace
# The fleet tests' Ansible, from PyPI, in a virtual environment in TEST_CACHE.
ANSIBLE_REQUIREMENTS := ansible==12.3.0 ansible-lint==26.10.1
CARGO_DEB_VERSION := 3.8.0
CARGO_FUZZ_VERSION := 0.13.2
# How long make fuzz runs (make test runs a short smoke run).
FUZZ_SECONDS ?= 600
CARGO_GENERATE_RPM_VERSION := 0.21.1
# The end-to-end test: htpasswd for the registry's password file, static
# libc for the image's probes, python3 to push the image, strace to watch
# containerd call the helper. Its other parts are cached in TEST_CACHE:
# sid's nydus-snapshotter, docker-registry and busybox-static (unpacked),
# and nydusd and nydus-image, built from the crate nydus-rs (no Debian suite
# ships them; a few minutes, once).
E2E_DEBS := apache2-utils libc6-dev python3 strace
NYDUS_RS_DIR = $(TEST_CACHE)/nydus-rs-2.2.0
RUN_E2E = NYDUS_OVERLAYFS_TEST_CACHE=$(TEST_CACHE) tests/e2e/run.sh
# Cached between runs on this machine: Debian's containerd of three releases
# and sid's nydus-snapshotter, unpacked (not installed), and the lifecycle
# tests' debootstrap chroot.
TEST_CACHE ?= /var/cache/nydus-overlayfs-tests

.PHONY: all build man install package lint check test test-e2e bench fuzz stress deps-package deps-test deps-e2e deps-fuzz clean

all: build

build:
	$(BUILD_ENV) $(CARGO) build --release --locked $(CARGO_TARGET)

man:
	$(CARGO) run --quiet --locked --example gen-man -- target/man

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
	$(if $(LICENSEDIR),install -D -m 644 LICENSE $(DESTDIR)$(LICENSEDIR)/LICENSE)
	$(if $(filter yes,$(LINTIAN_OVERRIDES)),install -D -m 644 packaging/lintian-overrides \
		$(DESTDIR)$(DATADIR)/lintian/overrides/nydus-overlayfs)
	@# The admin's settings: never overwritten once there.
	[ -e $(DESTDIR)$(SYSCONFDIR)/nydus-overlayfs/setup.toml ] || \
		install -D -m 644 packaging/setup.toml $(DESTDIR)$(SYSCONFDIR)/nydus-overlayfs/setup.toml

package: deps-package
	rm -rf $(PKGROOT) target/debian target/generate-rpm
	$(MAKE) --no-print-directory install DESTDIR=$(CURDIR)/$(PKGROOT)/deb $(DEB_LAYOUT)
	$(MAKE) --no-print-directory install DESTDIR=$(CURDIR)/$(PKGROOT)/rpm $(RPM_LAYOUT)
	$(CARGO) deb --no-build --locked
	tools/rpm-metadata $(PKGROOT)/rpm > target/rpm-metadata.toml
	$(CARGO) generate-rpm --metadata-overwrite target/rpm-metadata.toml
	$(MAKE) --no-print-directory lint

lint:
	lintian --fail-on error,warning target/debian/*.deb
	rpmlint -c packaging/rpmlint.toml target/generate-rpm/*.rpm

deps-package:
	tools/ensure-debian-packages $(PACKAGE_DEBS)
	tools/ensure-cargo-tool cargo-deb $(CARGO_DEB_VERSION)
	tools/ensure-cargo-tool cargo-generate-rpm $(CARGO_GENERATE_RPM_VERSION)

deps-test:
	tools/ensure-debian-packages $(TEST_DEBS)
	for suite in bookworm trixie sid; do tools/fetch-suite-debs $$suite $(TEST_CACHE) containerd; done
	tools/fetch-suite-debs sid $(TEST_CACHE) nydus-snapshotter
	tools/ensure-python-venv $(TEST_CACHE)/ansible-venv $(ANSIBLE_REQUIREMENTS)

deps-e2e:
	tools/ensure-debian-packages $(E2E_DEBS)
	tools/fetch-suite-debs sid $(TEST_CACHE) nydus-snapshotter docker-registry busybox-static
	tools/build-nydus-rs $(NYDUS_RS_DIR)

check:
	$(CARGO) fmt --check
	$(CARGO) clippy --locked --all-targets -- -D warnings
	$(CARGO) test --locked -- --skip enable_killed_anywhere

# Unit and integration tests, make install, the packages' lifecycle under
# dpkg/apt, piuparts and rpm in a chroot, the Ansible role and the
# image-builder recipe, then a real container end to end.
test: deps-test deps-e2e package
	$(STATIC) NYDUS_OVERLAYFS_TEST_CACHE=$(TEST_CACHE) $(CARGO) test --locked $(CARGO_TARGET)
	$(MAKE) --no-print-directory fuzz FUZZ_SECONDS=30
	tests/make-install.sh
	NYDUS_OVERLAYFS_TEST_CACHE=$(TEST_CACHE) tests/lifecycle/deb.sh
	NYDUS_OVERLAYFS_TEST_CACHE=$(TEST_CACHE) tests/lifecycle/rpm.sh
	NYDUS_OVERLAYFS_TEST_CACHE=$(TEST_CACHE) tests/fleet/ansible.sh
	NYDUS_OVERLAYFS_TEST_CACHE=$(TEST_CACHE) tests/fleet/image.sh
	$(RUN_E2E)

# Only the end-to-end test: a container from a Nydus image through
# containerd, nydus-snapshotter, nydusd and the installed .deb.
test-e2e: deps-e2e package
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
