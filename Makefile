# Sysboxd: build, install and test.
#
# Quick start on a fresh Debian 12 host, as root:   make install && make test
#
# Targets:
#   build       the three binaries into bin/ (sysbox-runc, sysbox-mgr, sysbox-fs)
#   install     packages, binaries, sysboxctl, subuid/subgid pool, dockerd, daemons, Docker
#               runtime, busybox test image, then a smoke run (scripts/install.sh)
#   uninstall   the reverse (scripts/uninstall.sh)
#   deb         the Debian package bin/sysboxd_<version>_<arch>.deb (packaging/deb/build.sh;
#               VERSION=... overrides the version derived from git)
#   deb-test    the package's maintainer scripts on a fake root (packaging/deb/test-maintscripts.sh)
#   test        everything: unit tests, then end-to-end tests on a fresh install
#   test-unit   unit tests of every module, with the race detector (scripts/unit-tests.sh)
#   test-e2e    end-to-end tests only (installs and starts what they need, stops it after)
#   test-vm     the .deb and an e2e subset in a stock Debian 12 guest under qemu (tests/vm)
#   fuzz        every Go fuzz target for FUZZTIME (default 1m) each (scripts/fuzz.sh)
#   images      the test images (IMAGES=busybox debian ... or all)
#   proto       regenerate Go code from sysbox-ipc/proto/*.proto
#   lint        gofmt, go vet, go.mod/go.sum tidy (root and tests/oci modules), and no build
#               output tracked in git (scripts/check-tracked.sh)
#   clean       remove bin/ and the local tool dir

SHELL := /bin/bash
.DEFAULT_GOAL := build
# Prerequisites are steps in order (deps before build before install).
.NOTPARALLEL:

# Go lives in /usr/local/go on our machines; tools built for `make proto` live in .tmp/bin.
TOOLS_BIN := $(CURDIR)/.tmp/bin
export PATH := $(TOOLS_BIN):/usr/local/go/bin:$(PATH)
export CGO_ENABLED := 1

GO ?= go
GO_TAGS ?= seccomp
MODULE := github.com/sysboxd/sysboxd
GIT := git -c safe.directory=$(CURDIR)
VERSION ?= $(shell $(GIT) describe --tags --always --dirty 2>/dev/null || cat VERSION 2>/dev/null || echo unknown)
COMMIT ?= $(shell $(GIT) rev-parse --short HEAD 2>/dev/null || echo unknown)
export VERSION COMMIT GO GO_TAGS

IMAGES ?= busybox debian

PROTOC_GEN_GO_VERSION := v1.36.10
PROTOC_GEN_GO_GRPC_VERSION := v1.5.1
PROTO_FILES := $(wildcard sysbox-ipc/proto/*.proto)

.PHONY: all build deps install uninstall test test-unit test-e2e images proto lint clean clean-images

all: build

build:
	@scripts/build.sh

deps:
	@scripts/install-deps.sh

install: deps build
	@scripts/install.sh

uninstall:
	@scripts/uninstall.sh

# The package version comes from git unless VERSION is given (environment or command line).
.PHONY: deb
deb:
	@DEB_VERSION='$(if $(filter environment command line,$(origin VERSION)),$(VERSION))' packaging/deb/build.sh

# The package's maintainer scripts against a fake root with stub commands (needs root and
# bin/sysbox-mgr; installs nothing).
.PHONY: deb-test
deb-test: build
	@packaging/deb/test-maintscripts.sh

test:
	@scripts/test.sh all

test-unit:
	@scripts/unit-tests.sh

test-e2e:
	@scripts/test.sh e2e

# The stock-host test bed: a Debian 12 guest under qemu (systemd, cgroup v2, AppArmor,
# kernel 6.1) with the .deb installed and an e2e subset (tests/vm/README.md).
.PHONY: test-vm
test-vm:
	@tests/vm/run.sh

# Every fuzz target (docs/fuzzing.md) for FUZZTIME each, nice'd, with a summary;
# FUZZ_RUN=regexp picks targets. Their seed corpora also run in test-unit.
.PHONY: fuzz
fuzz:
	@scripts/fuzz.sh

# Performance figures (docs/perf.md): start latency, /proc read latency, sysbox-fs memory,
# sysbox-mgr Go benchmarks, in one run; results in $(BENCH_OUT) (untracked).
# `make bench-record` copies the last run to docs/perf-results.txt, the run docs/perf.md
# quotes: do it when you update the figures there.
BENCH_OUT ?= $(CURDIR)/.tmp/bench/latest.txt
export BENCH_OUT
.PHONY: bench bench-record
bench:
	@scripts/bench.sh

bench-record:
	@test -s '$(BENCH_OUT)' || { echo "no results in $(BENCH_OUT): run 'make bench' first" >&2; exit 1; }
	cp '$(BENCH_OUT)' docs/perf-results.txt

# OCI runtime-tools validation suite against sysbox-runc on bundles (also with --honor-caps
# and with the reference runc); table in .tmp/oci/results.md, expectations and the
# explanation of every failure in tests/oci/expected.txt and docs/oci-compat.md.
.PHONY: oci-conformance
oci-conformance:
	@scripts/oci-conformance.sh

images:
	@scripts/docker-up.sh
	@tests/images/build.sh $(IMAGES)

# Plugins are pinned and built into .tmp/bin; the stamp files record which version is there.
$(TOOLS_BIN)/.protoc-gen-go-$(PROTOC_GEN_GO_VERSION):
	@mkdir -p $(TOOLS_BIN)
	GOBIN=$(TOOLS_BIN) $(GO) install google.golang.org/protobuf/cmd/protoc-gen-go@$(PROTOC_GEN_GO_VERSION)
	@rm -f $(TOOLS_BIN)/.protoc-gen-go-v* && touch $@

$(TOOLS_BIN)/.protoc-gen-go-grpc-$(PROTOC_GEN_GO_GRPC_VERSION):
	@mkdir -p $(TOOLS_BIN)
	GOBIN=$(TOOLS_BIN) $(GO) install google.golang.org/grpc/cmd/protoc-gen-go-grpc@$(PROTOC_GEN_GO_GRPC_VERSION)
	@rm -f $(TOOLS_BIN)/.protoc-gen-go-grpc-v* && touch $@

proto: $(TOOLS_BIN)/.protoc-gen-go-$(PROTOC_GEN_GO_VERSION) $(TOOLS_BIN)/.protoc-gen-go-grpc-$(PROTOC_GEN_GO_GRPC_VERSION)
	@command -v protoc >/dev/null || { echo "protoc not found: run 'make deps' (protobuf-compiler)" >&2; exit 1; }
	protoc -I sysbox-ipc/proto \
		--plugin=protoc-gen-go=$(TOOLS_BIN)/protoc-gen-go \
		--plugin=protoc-gen-go-grpc=$(TOOLS_BIN)/protoc-gen-go-grpc \
		--go_out=. --go_opt=module=$(MODULE) \
		--go-grpc_out=. --go-grpc_opt=module=$(MODULE) \
		$(PROTO_FILES)

# Modules whose go.mod and go.sum must be what `go mod tidy` makes them.
GO_MODULES := . tests/oci tests/oci/ocileaks

lint:
	@scripts/check-tracked.sh
	@for m in $(GO_MODULES); do \
		(cd $$m && $(GO) mod tidy -diff) || { echo "go.mod/go.sum in $$m are not tidy: run 'go mod tidy' there" >&2; exit 1; }; \
	done
	@unformatted=$$(find . -name '*.go' ! -name '*.pb.go' ! -path './.tmp/*' ! -path './.git/*' -print0 | xargs -0 -r gofmt -l); \
	if [ -n "$$unformatted" ]; then echo "gofmt would change:"; echo "$$unformatted"; exit 1; fi
	$(GO) vet -tags '$(GO_TAGS)' ./...
	$(GO) vet -tags '$(GO_TAGS) e2e' ./tests/e2e/...

clean:
	rm -rf bin .tmp

# Removes the test images and their cached root filesystems (the next build starts over).
clean-images:
	-docker image rm sysbox-test/busybox sysbox-test/debian sysbox-test/debian-docker sysbox-test/debian-systemd 2>/dev/null
	rm -rf /var/cache/sysbox-test-images
