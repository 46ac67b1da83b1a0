# firebuild: two commands do everything on a fresh Debian 12 machine:
#   make demo   installs what is missing, builds, runs recipes/quickstart.lua
#   make test   installs what is missing, builds, runs every test (Swift and Lua)
SHELL := /bin/bash
SWIFT ?= swift
PREFIX ?= /usr/local
CONFIG ?= debug

# Debian packages firebuild needs at build, run and test time. `make deps` installs only the
# missing ones, so it is cheap to run again.
DEB_BUILD := pkg-config liblua5.4-dev lua5.4 libgit2-dev libcurl4-openssl-dev zlib1g-dev libzstd-dev
DEB_RUN := qemu-system-x86 qemu-utils linux-image-cloud-amd64 busybox-static cpio lz4 xz-utils zstd bzip2 \
           e2fsprogs iproute2 iptables containernetworking-plugins kmod ca-certificates
DEB_TEST := docker-registry skopeo umoci buildah mmdebstrap apache2-utils jq socat hyperfine
DEB_ALL := $(DEB_BUILD) $(DEB_RUN) $(DEB_TEST)

BIN_DIR = $(shell $(SWIFT) build -c $(CONFIG) --show-bin-path)

.PHONY: deps build init test test-swift test-lua demo install clean bench

deps:
	@missing=$$(for p in $(DEB_ALL); do dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q '^install ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	  echo "installing:" $$missing; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; \
	else echo "all Debian packages present"; fi

build:
	$(SWIFT) build -c $(CONFIG)

test: deps build init test-lua test-swift

test-swift:
	$(SWIFT) test

test-lua:
	@if ls lua/tests/*.lua >/dev/null 2>&1; then \
	  for t in lua/tests/*.lua; do LUA_PATH="lua/?.lua;lua/?/init.lua;;" lua5.4 $$t || exit 1; done; \
	fi

demo: deps build init
	$(BIN_DIR)/firebuild script recipes/hello.lua

install: build
	install -d $(PREFIX)/bin $(PREFIX)/share/firebuild
	install -m 0755 $(BIN_DIR)/firebuild $(PREFIX)/bin/firebuild
	install -m 0755 $(BIN_DIR)/tc-redirect-tap $(PREFIX)/bin/tc-redirect-tap
	install -d $(PREFIX)/lib/firebuild
	if [ -x $(INIT_STATIC) ]; then install -m 0755 $(INIT_STATIC) $(PREFIX)/lib/firebuild/firebuild-init; fi
	cp -r lua $(PREFIX)/share/firebuild/

# The guest init, statically linked (no libc or Swift runtime needed in the image), stripped.
INIT_STATIC := .build-static/firebuild-init-static
init:
	$(SWIFT) build -c release --product firebuild-init --static-swift-stdlib -Xswiftc -static-executable \
	  --scratch-path .build-static
	strip -o $(INIT_STATIC) .build-static/release/firebuild-init
	@file $(INIT_STATIC) | grep -q 'statically linked' || { echo "$(INIT_STATIC) is not statically linked" >&2; exit 1; }
	@ls -l $(INIT_STATIC)

clean:
	rm -rf .build .build-*
