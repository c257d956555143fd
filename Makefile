# kvas — the commands a developer runs. `make deps` installs what is missing.
CARGO ?= cargo
# Paging mode for `make qemu`: sv57 (default), sv48 (no5lvl) or sv39 (no4lvl). APPEND adds words.
MODE ?= sv57
APPEND ?=
XTASK = $(CARGO) run -q -p xtask --

.PHONY: run demo test boot-test bench deps lint fmt kernel kernel-path qemu

# Builds the kernel and boots it in QEMU (virt, OpenSBI, -nographic) in the default mode.
run:
	$(XTASK) qemu

# Each mode's paging parameters and a demo mapping walked through the simulator's MMU
# (what `make run` showed before the kernel booted).
demo:
	$(CARGO) run -q -p kvas --example demo

test:
	$(CARGO) test --workspace
	$(CARGO) clippy --workspace --all-targets -- -D warnings
	$(CARGO) fmt --all --check
	$(MAKE) --no-print-directory boot-test

# Boots the kernel in QEMU under several CPUs, command lines, memory maps and load
# addresses, each run bounded in time (xtask/src/boottest.rs).
boot-test:
	$(XTASK) boot-test

bench:
	$(CARGO) bench -p kvas-bench

deps:
	./scripts/deps.sh

lint:
	$(CARGO) clippy --workspace --all-targets -- -D warnings

fmt:
	$(CARGO) fmt --all

# The kernel ELF: linked at 0xffffffff80000000, physical load address in its program headers.
kernel:
	$(XTASK) build

# `make -s kernel-path` prints the absolute path of the kernel ELF (building it first).
kernel-path:
	@$(XTASK) kernel-path

qemu:
	$(XTASK) qemu --mode $(MODE) $(if $(APPEND),--append "$(APPEND)")
