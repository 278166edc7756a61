# infrakit.aliyun: an InfraKit instance plugin for Alibaba Cloud ECS.
# `make demo` runs the tutorial on the bundled ECS emulator; `make test` is what CI runs.

GO        ?= go
BUILD     := build
PKG       := infrakit.aliyun
VERSION   ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
REVISION  ?= $(shell git rev-parse --short HEAD 2>/dev/null || echo unknown)
LDFLAGS   := -X $(PKG)/internal/daemon.Version=$(VERSION) -X $(PKG)/internal/daemon.Revision=$(REVISION)
BINARIES  := infrakit-instance-aliyun ecs-emulator infrakit infrakit-group-default infrakit-flavor-vanilla

# Lint tools are installed by this Makefile through the Go module proxy, never by hand.
TOOLS               := $(CURDIR)/$(BUILD)/tools
STATICCHECK_VERSION := v0.8.2
STATICCHECK         := $(TOOLS)/staticcheck-$(STATICCHECK_VERSION)

.PHONY: all build binaries test vet unit unit-main unit-ha demo-ha lint fmt-check staticcheck bench demo clean node-sdk

all: build

build: $(addprefix $(BUILD)/,$(BINARIES)) $(BUILD)/infrakit-manager $(BUILD)/etcd

# The original aliyun plugin's README says `make binaries` and runs
# build/infrakit-instance-aliyun, build/infrakit-group-default,
# build/infrakit-flavor-vanilla and build/infrakit: the same binaries.
binaries: build

# Go's own cache decides what to rebuild, so the binaries are always "remade".
$(BUILD)/%: FORCE
	$(GO) build -ldflags "$(LDFLAGS)" -o $@ ./cmd/$*

FORCE:

# Highly available InfraKit lives in nested modules, so etcd's client and its
# old grpc stay out of the main module: ha/ (the manager and its e2e tests)
# and ha/etcd/ (the real etcd server, go.etcd.io/etcd/server/v3's own main).
ETCD_PKG   := go.etcd.io/etcd/server/v3

$(BUILD)/infrakit-manager: FORCE
	cd ha && $(GO) build -o $(CURDIR)/$@ ./cmd/infrakit-manager

$(BUILD)/etcd: FORCE
	cd ha/etcd && $(GO) build -o $(CURDIR)/$@ $(ETCD_PKG)

test: vet unit

vet:
	$(GO) vet ./...
	cd ha && $(GO) vet ./...

unit: unit-main unit-ha

unit-main: node-sdk
	$(GO) test -race -count=1 -timeout 30m ./...

# The HA end-to-end tests run `make build`'s binaries (etcd included).
unit-ha: build
	cd ha && INFRAKIT_E2E_BINARIES=$(CURDIR)/$(BUILD) $(GO) test -race -count=1 -timeout 15m ./...

# The official Node SDK (@alicloud/ecs20140526, default settings) for the
# emulator's conformance test, from npm at the versions of the committed
# lockfile. Node and npm come from Debian when the machine has none.
NODESDK_SRC := emulator/testdata/nodesdk
NODESDK     := $(BUILD)/nodesdk
node-sdk: $(NODESDK)/node_modules/.installed

$(NODESDK)/node_modules/.installed: $(NODESDK_SRC)/package.json $(NODESDK_SRC)/package-lock.json
	@command -v node >/dev/null && command -v npm >/dev/null || \
		{ apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q nodejs npm; }
	mkdir -p $(NODESDK)
	cp $(NODESDK_SRC)/package.json $(NODESDK_SRC)/package-lock.json $(NODESDK)/
	cd $(NODESDK) && npm ci --ignore-scripts --no-audit --no-fund
	touch $@

lint: fmt-check staticcheck

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi

$(STATICCHECK):
	GOBIN=$(TOOLS) $(GO) install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION)
	mv $(TOOLS)/staticcheck $@

staticcheck: $(STATICCHECK)
	$(STATICCHECK) ./...
	cd ha && $(STATICCHECK) ./...

# The tutorial, for real, on the ECS emulator: no Alibaba Cloud account needed.
demo: build $(BUILD)/infrakit-aliyun-demo
	$(BUILD)/infrakit-aliyun-demo --bin-dir $(BUILD) --pause 1s

# Highly available InfraKit, for real: 3 nodes (etcd member, manager, group
# plugin, vanilla, this plugin each) over the emulator; the leader is killed.
demo-ha: build
	BIN=$(BUILD) ha/demo/demo-ha.sh

# Scale numbers against the ECS emulator (5 ms per API call, describes at
# N=10000 also at 50 ms): ECS calls and latency per describe beside the
# round-trip floor, cached describe, Provision latency, plugin peak RSS
# (steady and 0->1000 burst), and a 3-zone group with InfraKit's group plugin:
# 0->1000 and 0->10000 scale-ups, a rolling update, Provision batches, with
# their ECS calls; then met/not met per #14 target. Several minutes on
# 2 cores (0->10000 is the long pole); not part of `make test`.
BENCH_FLAGS ?= --converge-10k
bench:
	$(GO) run ./cmd/infrakit-aliyun-bench $(BENCH_FLAGS)

clean:
	rm -rf $(BUILD)
