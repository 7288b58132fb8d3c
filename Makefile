# hardbase: the front door. `make demo` and `make test` work on a fresh Debian machine.
PYTHON ?= python3
# ca-certificates, openssl and openjdk-17-jdk-headless (keytool, javac): the trust-store tests;
# rustc and binutils (objcopy): the Rust inventory test builds its fixture binary;
# zsh and fish: the completion tests load the scripts in them;
# redis-server: the Celery executor tests' broker (tests/lifecycle/test_celery.py)
APT_PACKAGES = debian-archive-keyring gpgv gnupg xz-utils zstd dpkg-dev apt-utils \
	skopeo umoci runc podman docker-registry mmdebstrap uidmap debian-security-support \
	postgresql chromium ca-certificates openssl openjdk-17-jdk-headless rustc binutils \
	zsh fish redis-server
# commands taken from Debian only when the machine has none: a NodeSource nodejs
# bundles npm and conflicts with Debian's npm package (the browser tests pack axe-core)
APT_COMMANDS = npm
STAMP = .setup-done
# cosign 2.5 and oras 1.2 (peers of the signing and artifact tests) are not in bookworm:
# scripts/fetch-peers takes them from trixie's verified .debs into $(TOOLS)/bin.
TOOLS = .tools

.PHONY: setup demo test test-fast lint bench clean

$(STAMP): pyproject.toml Makefile
	@missing=$$(for p in $(APT_PACKAGES); do dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "ok installed" || echo $$p; done; \
		for c in $(APT_COMMANDS); do command -v $$c >/dev/null || echo $$c; done); \
	if [ -n "$$missing" ]; then \
		echo "installing Debian packages:" $$missing; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; \
	fi
	$(PYTHON) -m pip install -q -e '.[serve,test,dev]'
	$(PYTHON) scripts/fetch-peers --dest $(TOOLS)
	@touch $(STAMP)

setup: $(STAMP)

demo: setup
	./scripts/demo.sh

test: setup
	$(PYTHON) -m pytest -q

test-fast: setup
	$(PYTHON) -m pytest -q -m "not archive and not slow"

lint: setup
	$(PYTHON) -m ruff check src tests bench
	$(PYTHON) -m ruff format --check src tests bench
	$(PYTHON) -m mypy

bench: setup
	$(PYTHON) bench/run.py

clean:
	rm -rf demo .pytest_cache $(STAMP) $(TOOLS)
