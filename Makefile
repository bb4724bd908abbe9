# The README's commands, and the ones around them.
.PHONY: run test test-short lint bench fuzz fuzz-list

run:
	go run ./cmd/ssehub

test:
	go test -race ./...

lint:
	test -z "$$(gofmt -l $$(git ls-files '*.go'))"
	go vet ./...

bench:
	go test -run '^$$' -bench . -benchmem ./sse/ ./hub/ ./store/... ./httpapi/internal/evloop/

# Each fuzz target for a while; FUZZTIME=5m make fuzz for longer. A target
# is listed as PACKAGE:NAME; every Fuzz function in the tree must be here
# (make fuzz-list shows those missing).
FUZZTIME ?= 30s
FUZZ_TARGETS = \
	./sse/:FuzzParse ./sse/:FuzzRoundTrip \
	./hub/:FuzzParseSelector ./hub/:FuzzEventUnmarshalBinary ./hub/:FuzzParseID \
	./httpapi/:FuzzPublishDecode ./httpapi/:FuzzDecodeSimple ./httpapi/:FuzzJSONString ./httpapi/:FuzzSubscribeRequest ./httpapi/:FuzzSubscribeBody ./httpapi/:FuzzHistoryRequest ./httpapi/:FuzzMercurePublishForm \
	./sseclient/:FuzzParseRetryAfter \
	./cmd/ssehub/:FuzzChunkDecoder ./cmd/ssehub/:FuzzSizeFlag ./cmd/ssehub/:FuzzConfigFile \
	./demo/internal/jsonhttp/:FuzzDecode \
	./auth/:FuzzParseJWKS ./auth/:FuzzParseKey \
	./store/redis/:FuzzParseRange ./store/redis/:FuzzParseRead ./store/nats/:FuzzAckFields
fuzz:
	@set -e; for t in $(FUZZ_TARGETS); do \
		pkg=$${t%%:*}; name=$${t##*:}; \
		echo "go test -run '^$$' -fuzz '^$$name\$$' -fuzztime $(FUZZTIME) $$pkg"; \
		go test -run '^$$' -fuzz "^$$name\$$" -fuzztime $(FUZZTIME) $$pkg; \
	done

fuzz-list:
	@for f in $$(git grep -l '^func Fuzz' -- '*_test.go'); do \
		for n in $$(sed -n 's/^func \(Fuzz[A-Za-z0-9_]*\)(.*/\1/p' $$f); do \
			echo "$(FUZZ_TARGETS)" | grep -q "./$$(dirname $$f)/:$$n" || echo "missing from FUZZ_TARGETS: $$(dirname $$f) $$n"; \
		done; \
	done
