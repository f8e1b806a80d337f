# Top-level entry points. `make demo` and `make test` are all a new user
# needs: both install missing build prerequisites first.

CARGO ?= cargo
DEMO_VCPUS ?= 4
APT_PACKAGES := cmake libclang-dev gcc make binutils patch

.PHONY: all prereqs image test-payloads build demo test bench lint fmt clean

all: build

# Unicorn's bindings need cmake and libclang at build time; mini-xen needs
# gcc and binutils. apt-get runs only for what is missing.
prereqs:
	@missing=""; \
	for p in $(APT_PACKAGES); do \
		dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
		echo "installing build prerequisites:$$missing"; \
		SUDO=""; [ "$$(id -u)" = 0 ] || SUDO=sudo; \
		$$SUDO apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing; \
	fi

image: prereqs
	$(MAKE) -C mini-xen

# Hand-written test payloads, built against the current build-id into
# payloads/build/test/NAME.livepatch.
test-payloads: image
	$(MAKE) -C mini-xen tests

build: image test-payloads
	$(CARGO) build --release --bins

# Build a payload from a source patch (livepatch-build shows its report),
# then boot on 4 vCPUs and run the live-patch story of scenarios/demo.txt.
DEMO_PATCH ?= payloads/patches/lp-extraversion.patch
demo: build
	./target/release/livepatch-build -s mini-xen -p $(DEMO_PATCH) -o payloads/build/demo
	./target/release/testbed shell --vcpus $(DEMO_VCPUS) --seed 1 --script scenarios/demo.txt

test: build
	$(CARGO) test --release --workspace

bench: build
	$(CARGO) bench --workspace

lint:
	$(CARGO) fmt --all --check
	$(CARGO) clippy --release --workspace --all-targets -- -D warnings

fmt:
	$(CARGO) fmt --all

clean:
	$(MAKE) -C mini-xen clean
	rm -rf payloads/build
	$(CARGO) clean

# The loader fuzzer (loaderfuzz/): RUNS mutated payloads from the test
# payloads, over every core; a reproducer per failure in target/fuzz-loader.
RUNS ?= 100000
SEED ?= 1
.PHONY: fuzz-loader
fuzz-loader: build
	$(CARGO) run --release -p loaderfuzz --bin fuzz-loader -- --runs $(RUNS) --seed $(SEED)
