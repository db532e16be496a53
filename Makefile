# The two commands of the README's quick start. Each installs what it needs first.
#   make demo   — open the cockpit on the bundled demo project
#   make test   — formatting, lints and the whole test suite (what CI runs)

CARGO ?= cargo

.PHONY: demo test prerequisites

SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

prerequisites:
	@command -v $(CARGO) >/dev/null 2>&1 || { echo "cargo is missing: install Rust from https://rustup.rs (curl https://sh.rustup.rs -sSf | sh)"; exit 1; }
	@command -v cargo-nextest >/dev/null 2>&1 || $(CARGO) install --locked cargo-nextest
	@command -v prometheus >/dev/null 2>&1 && command -v promtool >/dev/null 2>&1 && { command -v nginx || test -x /usr/sbin/nginx; } >/dev/null 2>&1 || { $(SUDO) apt-get update && $(SUDO) apt-get install -y --no-install-recommends prometheus nginx; }

demo: prerequisites
	$(CARGO) run --release --quiet -- demo

test: prerequisites
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --all-targets --locked -- -D warnings
	$(CARGO) nextest run --locked --no-fail-fast
