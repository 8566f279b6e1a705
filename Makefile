# gantry: `make help` lists the targets.
GO        ?= go
BIN       ?= bin/gantry
PKGS      ?= ./...
FUZZTIME  ?= 30s
VERSION   ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)

.PHONY: help build run test e2e fuzz bench lint deps clean

help: ## show this help
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  %-8s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

build: ## build bin/gantry
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags "-X main.version=$(VERSION)" -o $(BIN) ./cmd/gantry

run: build ## run a demo proxy: 127.0.0.1:8080 -> 127.0.0.1:9001,127.0.0.1:9002
	$(BIN) proxy --from 127.0.0.1:8080 --to 127.0.0.1:9001,127.0.0.1:9002

deps: ## install what the tests need (only what is missing)
	@./scripts/test-deps.sh

test: deps lint ## install test deps, lint, and run every test (unit, integration, fuzz seeds) with -race
	PATH="$$($(GO) env GOPATH)/bin:$$PATH" $(GO) test -race -count=1 -timeout 20m $(PKGS)

e2e: ## run only the integration tests through real listeners
	$(GO) test -race -count=1 -run 'Integration|E2E' ./internal/app/...

fuzz: ## run every fuzz target for FUZZTIME each
	@./scripts/fuzz.sh $(FUZZTIME)

bench: ## run the Go benchmarks of the hot path
	$(GO) test -run '^$$' -bench . -benchmem ./internal/...

lint: ## gofmt and go vet
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
		if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	$(GO) vet $(PKGS)

clean: ## remove build output
	rm -rf bin
