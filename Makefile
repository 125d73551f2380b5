# Front door for the README's commands. Run as root on Debian 12.
SHELL := /bin/bash
PY ?= /usr/bin/python3
VENV := .venv
CACHE := .cache
KERNEL_DEB = $$(ls $(CURDIR)/$(CACHE)/kernel/linux-image-*.deb | head -n1)

LAB_PACKAGES := qemu-system-x86 qemu-utils ipxe-qemu vde2 debootstrap e2fsprogs openssh-client iproute2 util-linux openipmi ipmitool dnsmasq-base openssl systemd-container
# What the tests alone need: a browser to look at report.html as a person would (headless); PostgreSQL
# for the history (each test starts its own cluster as the postgres user, on a Unix socket; no service).
TEST_PACKAGES := chromium postgresql-15
# What `make bindeb-pkg` of a kernel tree needs (swaplab bisect, swaplab's kernel builds), and the demo's tree.
BUILD_PACKAGES := build-essential bc bison flex libelf-dev libssl-dev dpkg-dev rsync kmod cpio xz-utils linux-source-6.1

.PHONY: run test lint unit integration wheel-venv faults faults-soak limit scale history-bench bisect-demo noise-bench lint-deps deps lab-deps test-deps sim-deps venv swaplab-env kernel-deb clean

## run: the main job on the virtual lab: installs what it needs, builds the lab images (host mirror),
## then runs `swaplab run` in a network namespace that has only loopback. Options: ARGS="--trials 5"
run: lab-deps swaplab-env kernel-deb
	$(VENV)/bin/swaplab lab build
	unshare --net -- sh -c 'ip link set lo up && exec $(VENV)/bin/swaplab run $(ARGS)'

## test: everything CI runs: lint, unit tests, then the virtual lab end to end on one blade
## (lab-deps first: the unit tests drive a real ipmi_sim with ipmitool)
test: venv kernel-deb lab-deps test-deps sim-deps lint-deps
	SWAPLAB_KERNEL_DEB=$(KERNEL_DEB) $(VENV)/bin/tox -e lint,unit
	$(MAKE) integration

## integration: build the lab images (needs the Debian mirror), then run the lab tests in a
## network namespace that has only loopback
integration: venv kernel-deb lab-deps test-deps sim-deps wheel-venv
	$(VENV)/bin/tox -e integration --notest
	.tox/integration/bin/swaplab lab build
	$(VENV)/bin/tox -e integration

## wheel-venv: swaplab's wheel built, and installed into a venv outside the checkout ($(WHEEL_VENV)):
## the integration tests provision and run the virtual lab from that install
WHEEL_VENV ?= /tmp/swaplab-wheel-venv
wheel-venv: venv
	rm -rf build $(CACHE)/wheel
	$(VENV)/bin/pip wheel --no-deps -q -w $(CACHE)/wheel .
	rm -rf build $(WHEEL_VENV)
	$(PY) -m venv $(WHEEL_VENV)
	$(WHEEL_VENV)/bin/pip install -q $(CACHE)/wheel/swaplab-*.whl

## faults: every fault scenario on the virtual lab (CI runs the blade freeze and crash; this adds the
## NAS freeze, link down, nfsd restart and nbd-server kill: about 25 minutes more)
faults: venv kernel-deb lab-deps test-deps sim-deps
	$(VENV)/bin/tox -e integration --notest
	.tox/integration/bin/swaplab lab build
	SWAPLAB_MARKS="faults and not soak" $(VENV)/bin/tox -e integration -- tests/integration/test_faults.py

## faults-soak: the blade-crash scenario ten times in a row on one lab bring-up (about 35 minutes; outside CI):
## every round must pass. ROUNDS=N changes the count.
faults-soak: venv kernel-deb lab-deps test-deps sim-deps
	$(VENV)/bin/tox -e integration --notest
	.tox/integration/bin/swaplab lab build
	SWAPLAB_MARKS=soak SWAPLAB_SOAK_ROUNDS=$(or $(ROUNDS),10) $(VENV)/bin/tox -e integration -- tests/integration/test_faults.py

## limit: `--limit` on a shared NAS, on a 2-blade virtual lab: blade A is provisioned while blade B swaps on
## NFS and NBD; B's servers are not restarted, nothing of B's changes (about 10 minutes; outside CI)
limit: venv kernel-deb lab-deps test-deps sim-deps
	$(VENV)/bin/tox -e integration --notest
	.tox/integration/bin/swaplab lab build
	SWAPLAB_MARKS=two_blades $(VENV)/bin/tox -e integration -- tests/integration/test_limit.py

## scale: the controller against a simulated rack (swaplab.sim) of 1, 10, 50 and 100 blades, then 100 blades
## hanging at once and a NAS freezing under 100 (about 30 minutes; outside CI, which runs 10 blades in
## tests/integration/test_scale_sim.py). The figures go to bench/scale.json; bench/README.md has a table.
scale: venv kernel-deb lab-deps sim-deps swaplab-env
	$(VENV)/bin/python bench/bench_scale.py --blades 1,10,50,100 --storm 100 --nas-freeze 100 --json bench/scale.json $(ARGS)

## history-bench: the history's benchmarks: detection quality (200 synthetic series a step size), and 365
## nights of 100 blades into SQLite and into a PostgreSQL cluster of its own (about 10 minutes; outside CI,
## which runs the detection's fast version). Figures in bench/README.md.
history-bench: swaplab-env test-deps
	$(VENV)/bin/python bench/bench_detect.py --seeds 200
	$(VENV)/bin/python bench/bench_history.py
	$(VENV)/bin/python bench/bench_history.py --postgres

## bisect-demo: a real bisection on the virtual lab: Debian's linux-source-6.1 as a git tree with eight commits,
## one slowing swap over NFS; `swaplab bisect` must name it, confirmed (hours on two cores; outside CI)
bisect-demo: lab-deps swaplab-env
	@missing=$$(for p in $(BUILD_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -n "$$missing" ]; then apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $$missing; fi
	$(VENV)/bin/swaplab lab build
	$(VENV)/bin/python bench/bisect_demo.py $(ARGS)

## noise-bench: where the NFS/NBD ratio's noise comes from: pairs of hog trials on one virtual lab under
## each candidate setting (--settle-nas, CPU placement), side by side (some 30 minutes; outside CI)
noise-bench: lab-deps swaplab-env kernel-deb
	$(VENV)/bin/swaplab lab build
	unshare --net -- sh -c 'ip link set lo up && exec $(VENV)/bin/python bench/bench_noise.py $(ARGS)'

lint: venv lint-deps
	$(VENV)/bin/tox -e lint

unit: venv kernel-deb
	SWAPLAB_KERNEL_DEB=$(KERNEL_DEB) $(VENV)/bin/tox -e unit

## deps: Debian packages the tests need (idempotent)
deps:
	@command -v apt-get >/dev/null || { echo "swaplab: needs Debian 12 (apt-get)"; exit 2; }
	@missing=$$(for p in python3-venv git shellcheck; do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -n "$$missing" ]; then apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $$missing; fi

## lab-deps: Debian packages the virtual lab needs (idempotent)
lab-deps: deps
	@missing=$$(for p in $(LAB_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -n "$$missing" ]; then apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $$missing; fi

## test-deps: Debian packages the tests alone need (idempotent)
test-deps: deps
	@mkdir -p /etc/postgresql-common/createcluster.d && \
	  echo 'create_main_cluster = false' > /etc/postgresql-common/createcluster.d/swaplab.conf
	@missing=$$(for p in $(TEST_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || echo $$p; done); \
	if [ -n "$$missing" ]; then apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $$missing; fi

## sim-deps: OpenSSH's server for the simulated rack's blades, unpacked under .cache/sim from Debian's
## package: not installed, never started as a service, so the host runs no sshd of its own
sim-deps:
	@if [ ! -x $(CACHE)/sim/usr/sbin/sshd ]; then \
	  mkdir -p $(CACHE)/sim/deb && cd $(CACHE)/sim/deb && rm -f openssh-server_*.deb && \
	  apt-get download openssh-server 2>&1 | grep -v '^W:' || true; \
	  dpkg-deb -x $(CURDIR)/$(CACHE)/sim/deb/openssh-server_*.deb $(CURDIR)/$(CACHE)/sim; fi
	@test -x $(CACHE)/sim/usr/sbin/sshd

## lint-deps: npm-groovy-lint (CodeNarc on the local JDK), pinned, under .cache/npm, for ci/Jenkinsfile:
## nothing can run a Jenkins here, so this is what parses it as Groovy (Node.js and a JRE from Debian)
GROOVY_LINT := npm-groovy-lint@16.2.0
lint-deps: deps
	@command -v node >/dev/null && command -v npm >/dev/null && command -v java >/dev/null || \
	  { apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends nodejs npm default-jre-headless; }
	@test -x $(CACHE)/npm/node_modules/.bin/npm-groovy-lint || \
	  { mkdir -p $(CACHE)/npm && npm install --prefix $(CACHE)/npm --no-audit --no-fund $(GROOVY_LINT); }

venv: deps
	@test -x $(VENV)/bin/tox || { $(PY) -m venv $(VENV) && $(VENV)/bin/pip install -q 'tox>=4.20,<5'; }

## swaplab-env: swaplab itself in .venv (reinstalled when pyproject.toml changes)
swaplab-env: venv $(VENV)/.swaplab-installed
$(VENV)/.swaplab-installed: pyproject.toml
	$(VENV)/bin/pip install -q -e .
	touch $@

## kernel-deb: Debian 12's stock kernel image package, for check-kernel's real-package test
kernel-deb:
	@python3 -m swaplab.kernel.under_test fetch >/dev/null

clean:
	rm -rf .tox $(VENV) $(CACHE)
