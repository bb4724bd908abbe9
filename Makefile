# The README's commands, and the ones around them.
.PHONY: run test test-short lint bench fuzz

run:
	go run ./cmd/ssehub

test:
	go test -race ./...

lint:
	test -z "$$(gofmt -l $$(git ls-files '*.go'))"
	go vet ./...

bench:
	go test -run '^$$' -bench . -benchmem ./sse/ ./hub/ ./store/... ./httpapi/internal/evloop/

# Each fuzz target for a while; FUZZTIME=5m make fuzz for longer.
FUZZTIME ?= 30s
fuzz:
	go test -run '^$$' -fuzz '^FuzzParse$$' -fuzztime $(FUZZTIME) ./sse/
	go test -run '^$$' -fuzz '^FuzzRoundTrip$$' -fuzztime $(FUZZTIME) ./sse/
	go test -run '^$$' -fuzz '^FuzzParseSelector$$' -fuzztime $(FUZZTIME) ./hub/
	go test -run '^$$' -fuzz '^FuzzEventUnmarshalBinary$$' -fuzztime $(FUZZTIME) ./hub/
	go test -run '^$$' -fuzz '^FuzzPublishDecode$$' -fuzztime $(FUZZTIME) ./httpapi/
	go test -run '^$$' -fuzz '^FuzzParseJWKS$$' -fuzztime $(FUZZTIME) ./auth/
	go test -run '^$$' -fuzz '^FuzzParseKey$$' -fuzztime $(FUZZTIME) ./auth/
