# nydus-overlayfs — build, test, package and install.
#
#   make build     release binary in target/release/
#   make test      every test (as root: the tests mount overlayfs for real)
#   make man       man pages in target/man/

CARGO ?= cargo

# Debian packages the tests use: real mount.fuse (fuse3), mount(8) and
# setpriv (util-linux).
TEST_DEBS := fuse3 util-linux

.PHONY: all build test man deps-test

all: build

build:
	$(CARGO) build --release --locked

man:
	$(CARGO) run --quiet --locked --example gen-man -- target/man

deps-test:
	tools/ensure-debian-packages $(TEST_DEBS)

test: deps-test
	$(CARGO) test --locked
