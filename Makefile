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

.PHONY: all build binaries test vet unit lint fmt-check staticcheck bench demo clean

all: build

build: $(addprefix $(BUILD)/,$(BINARIES))

# The original aliyun plugin's README says `make binaries` and runs
# build/infrakit-instance-aliyun, build/infrakit-group-default,
# build/infrakit-flavor-vanilla and build/infrakit: the same binaries.
binaries: build

# Go's own cache decides what to rebuild, so the binaries are always "remade".
$(BUILD)/%: FORCE
	$(GO) build -ldflags "$(LDFLAGS)" -o $@ ./cmd/$*

FORCE:

test: vet unit

vet:
	$(GO) vet ./...

unit:
	$(GO) test -race -count=1 -timeout 30m ./...

lint: fmt-check staticcheck

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi

$(STATICCHECK):
	GOBIN=$(TOOLS) $(GO) install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION)
	mv $(TOOLS)/staticcheck $@

staticcheck: $(STATICCHECK)
	$(STATICCHECK) ./...

# The tutorial, for real, on the ECS emulator: no Alibaba Cloud account needed.
demo: build $(BUILD)/infrakit-aliyun-demo
	$(BUILD)/infrakit-aliyun-demo --bin-dir $(BUILD) --pause 1s

# Scale numbers against the ECS emulator (5 ms per API call): ECS calls and
# latency per describe, Provision latency, group 0->N convergence, plugin
# peak RSS, for N = 10..10000. About a minute on 2 cores; not part of `make test`.
BENCH_FLAGS ?=
bench:
	$(GO) run ./cmd/infrakit-aliyun-bench $(BENCH_FLAGS)

clean:
	rm -rf $(BUILD)
