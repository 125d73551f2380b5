# Front door for the README's commands. Run as root on Debian 12.
SHELL := /bin/bash
PY ?= /usr/bin/python3
VENV := .venv
CACHE := .cache
KERNEL_DEB = $$(ls $(CURDIR)/$(CACHE)/kernel/linux-image-*.deb | head -n1)

.PHONY: test lint unit deps venv kernel-deb clean

## test: everything CI runs: lint, unit tests (with Debian 12's real kernel package)
test: venv kernel-deb
	SWAPLAB_KERNEL_DEB=$(KERNEL_DEB) $(VENV)/bin/tox -e lint,unit

lint: venv
	$(VENV)/bin/tox -e lint

unit: venv kernel-deb
	SWAPLAB_KERNEL_DEB=$(KERNEL_DEB) $(VENV)/bin/tox -e unit

## deps: Debian packages the tests need (idempotent)
deps:
	@command -v apt-get >/dev/null || { echo "swaplab: needs Debian 12 (apt-get)"; exit 2; }
	@missing=$$(for p in python3-venv git; do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -n "$$missing" ]; then apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $$missing; fi

venv: deps
	@test -x $(VENV)/bin/tox || { $(PY) -m venv $(VENV) && $(VENV)/bin/pip install -q 'tox>=4.20,<5'; }

## kernel-deb: Debian 12's stock kernel image package, for check-kernel's real-package test
kernel-deb:
	@if [ -z "$$(ls $(CACHE)/kernel/linux-image-*.deb 2>/dev/null)" ]; then \
	  mkdir -p $(CACHE)/kernel && cd $(CACHE)/kernel && \
	  pkg=$$(apt-cache depends linux-image-amd64 | awk '/Depends: linux-image-/{print $$2; exit}') && \
	  test -n "$$pkg" && apt-get download "$$pkg" 2>&1 | grep -v '^W:' || true; fi
	@ls $(CACHE)/kernel/linux-image-*.deb >/dev/null

clean:
	rm -rf .tox $(VENV) $(CACHE)
