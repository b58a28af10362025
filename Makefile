# berth: build, run, test, lint, bench. The Kubernetes version that
# kube-apiserver reports comes from go.mod through scripts/ldflags.
GO      ?= go
LDFLAGS := $(shell sh scripts/ldflags)
BIN     := bin/berth

.PHONY: build serve test test-short lint bench clean

build:
	$(GO) build -ldflags "$(LDFLAGS)" -o $(BIN) ./cmd/berth

# Start berth with its embedded defaults (127.0.0.1:4800, ~/.berth).
serve: build
	./$(BIN) serve

# Unit, integration and end-to-end tests (the e2e tests start real control
# planes). The e2e tests run the berth binary they build, which go test's
# cache cannot see, so they always run.
test:
	$(GO) test -timeout 30m $$($(GO) list ./... | grep -v /internal/e2e)
	$(GO) test -count=1 -timeout 30m ./internal/e2e/

# Unit tests only.
test-short:
	$(GO) test -short ./...

lint:
	@test -z "$$(gofmt -l .)" || (gofmt -l .; echo "gofmt: files above need formatting"; exit 1)
	$(GO) vet ./...

bench: build
	$(GO) test -run '^$$' -bench . -benchtime 1x -timeout 30m ./internal/e2e/
	$(GO) test -run '^$$' -bench . ./internal/sigv4/ ./internal/pki/

clean:
	rm -rf bin
