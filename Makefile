# tccsuite: the two commands a newcomer needs are `make run` and `make test`.
GO        ?= go
# The participant SDK (pkg/tcc) is its own module: ./... stops at it, go.work lets the
# root name it.
PKGS      ?= ./... ./pkg/tcc/...
TEST_FLAGS ?= -race -count=1 -timeout 15m

.PHONY: run test lint fmt vet golangci tidy openapi-lint docs simulate model history bench build clean chaos postman fuzz

## run: start the whole suite in one process (embedded etcd and SQLite unless TCC_MYSQL_DSN is set)
run:
	$(GO) run ./cmd/tccsuite

## test: everything CI checks: formatting, vet, all tests under -race on MariaDB and embedded etcd, the Postman walkthrough
test: lint
	./scripts/ensure-mysql.sh
	./scripts/postman.sh
	$(GO) test $(TEST_FLAGS) $(PKGS)

## postman: the Postman walkthrough with the pinned newman against a fresh quick start
postman:
	./scripts/postman.sh

## lint: gofmt, go vet, golangci-lint (pinned, installed into bin/ when missing), go mod
## tidy -diff, and the OpenAPI spec through the pinned Redocly CLI (api/lint)
GOLANGCI_VERSION ?= v2.15.0
GOLANGCI := $(CURDIR)/bin/golangci-lint-$(GOLANGCI_VERSION)
lint: fmt vet golangci tidy openapi-lint

$(GOLANGCI):
	mkdir -p bin && GOBIN=$(CURDIR)/bin/golangci-tmp $(GO) install github.com/golangci/golangci-lint/v2/cmd/golangci-lint@$(GOLANGCI_VERSION)
	mv bin/golangci-tmp/golangci-lint $(GOLANGCI) && rmdir bin/golangci-tmp

golangci: $(GOLANGCI)
	$(GOLANGCI) run ./... ./pkg/tcc/...

## tidy: go.mod and go.sum of both modules (the suite, and the SDK in pkg/tcc) are tidy
tidy:
	GOWORK=off $(GO) mod tidy -diff
	cd pkg/tcc && GOWORK=off $(GO) mod tidy -diff

openapi-lint:
	./scripts/openapi-lint.sh

fmt:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi

vet:
	$(GO) vet $(PKGS)

## bench: the Go benchmarks (MariaDB must answer, see scripts/ensure-mysql.sh)
bench:
	./scripts/ensure-mysql.sh
	$(GO) test -run '^$$' -bench . -benchtime 3s $(PKGS)

## simulate: the coordinator's deterministic simulation over seeds 1..SEEDS (make test runs a fixed set)
SEEDS ?= 1000
simulate:
	$(GO) test -count=1 -timeout 0 ./coordinator/internal/sim -run 'TestSimulation$$' -sim.seeds=$(SEEDS)

## model: the barrier's model-based test with MODEL_CHECKS generated sequences, on SQLite and MariaDB
MODEL_CHECKS ?= 2000
model:
	./scripts/ensure-mysql.sh
	$(GO) test -count=1 -timeout 0 -run 'TestBarrierModel$$|TestBarrierModelMySQL$$' ./pkg/tcc/ -rapid.checks=$(MODEL_CHECKS)

## history: the order API's history checker in its long mode (64 clients × 150 operations)
history:
	./scripts/ensure-mysql.sh
	ORDER_HISTORY_LONG=1 $(GO) test -count=1 -timeout 0 -run 'TestPlacementHistory$$' -v ./services/order/app

## docs: regenerate the configuration tables of the READMEs from the config structs (a test fails when they drift)
docs:
	$(GO) generate ./internal/conf/confdocs

build:
	$(GO) build -o bin/ ./...

clean:
	rm -rf bin

## chaos: the long fault-injection run (real processes, a private MariaDB, etcd) with every
## fault kind: lost, refused, duplicated and slow calls, coordinator SIGKILLs, participant
## restarts, database SIGKILLs, etcd outages and partitions, ambiguous keyed clients; any
## 500 or 503 without Retry-After fails it. ORDERS, CONCURRENCY and CHAOS_FLAGS tune it.
ORDERS ?= 5000
CONCURRENCY ?= 32
CHAOS_FLAGS ?= -db-crash-every 10s -etcd-outage-every 12s -partition-every 15s -ambiguous-every 10 -strict-answers
chaos:
	./scripts/ensure-mysql.sh
	$(GO) run ./cmd/tccchaos -orders $(ORDERS) -concurrency $(CONCURRENCY) $(CHAOS_FLAGS)

## fuzz: run every fuzzer for FUZZTIME each (their seed corpora also run in make test)
FUZZTIME ?= 30s
FUZZERS = ./pkg/tcc:FuzzPhaseCall ./pkg/tcc:FuzzMetaFromHeader ./pkg/tcc:FuzzVerify ./pkg/tcc:FuzzParseDeadline \
	./coordinator/internal/httpapi:FuzzParseBegin \
	./internal/httpx:FuzzDecodeJSON ./internal/httpx:FuzzAdminAuth \
	./services/order/internal/domain:FuzzPlaceRequest ./services/order/internal/domain:FuzzIdempotencyKey ./services/order/internal/domain:FuzzAmount
fuzz:
	@for f in $(FUZZERS); do pkg=$${f%%:*}; name=$${f##*:}; \
		echo "== $$name ($$pkg)"; $(GO) test -run '^$$' -fuzz "^$$name$$" -fuzztime $(FUZZTIME) $$pkg || exit 1; done
