# kvas — the commands a developer runs. `make deps` installs what is missing.
CARGO ?= cargo

.PHONY: run test bench deps lint fmt

run:
	$(CARGO) run -q -p kvas --example demo

test:
	$(CARGO) test --workspace
	$(CARGO) clippy --workspace --all-targets -- -D warnings
	$(CARGO) fmt --all --check

bench:
	$(CARGO) bench -p kvas-bench

deps:
	./scripts/deps.sh

lint:
	$(CARGO) clippy --workspace --all-targets -- -D warnings

fmt:
	$(CARGO) fmt --all
