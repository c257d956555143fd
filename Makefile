# kvas — the commands a developer runs. `make run` and `make test` first install what is missing
# (scripts/deps.sh: idempotent, a fraction of a second when everything is there).
CARGO ?= cargo
# Paging mode for `make qemu`: sv57 (default), sv48 (no5lvl) or sv39 (no4lvl). APPEND adds words.
MODE ?= sv57
APPEND ?=
# RAM for `make qemu` (QEMU's -m, e.g. 4G); empty: the xtask's default, 512M.
MEMORY ?=
# The kernel's architecture for `make kernel`, `make kernel-path`, `make qemu`: riscv64 (default)
# or riscv32 (one image for every vmsplit=, see docs/KERNEL.md).
ARCH ?= riscv64
XTASK = $(CARGO) run -q -p xtask --

.PHONY: run demo test boot-test bench deps lint fmt kernel kernel-path qemu

# Builds the kernel and boots it in QEMU (virt, OpenSBI, -nographic) in the default mode.
run: deps
	$(XTASK) qemu

# Each mode's paging parameters and a demo mapping walked through the simulator's MMU
# (what `make run` showed before the kernel booted).
demo:
	$(CARGO) run -q -p kvas --example demo

# Every test: the workspace's (the kernel core's host tests included), clippy on the
# workspace and on the whole riscv64 kernel (xtask clippy, Debian's clippy), rustfmt, and
# the kernel's boot tests.
test: deps
	$(CARGO) test --workspace
	$(CARGO) clippy --workspace --all-targets -- -D warnings
	$(XTASK) clippy
	$(CARGO) fmt --all --check
	cd kernel && $(CARGO) fmt --check
	cd user && $(CARGO) fmt --check
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
	$(XTASK) clippy

fmt:
	$(CARGO) fmt --all

# The kernel ELF: linked at 0xffffffff80000000 (riscv32: 0xf0000000), physical load address in
# its program headers.
kernel:
	$(XTASK) build --arch $(ARCH)

# `make -s kernel-path` prints the absolute path of the kernel ELF (building it first).
kernel-path:
	@$(XTASK) kernel-path --arch $(ARCH)

qemu: deps
	$(XTASK) qemu --arch $(ARCH) $(if $(filter riscv64,$(ARCH)),--mode $(MODE)) $(if $(APPEND),--append "$(APPEND)") $(if $(MEMORY),--memory $(MEMORY))
