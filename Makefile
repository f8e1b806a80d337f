# Top-level entry points. `make demo` and `make test` are all a new user
# needs: both install missing build prerequisites first.

CARGO ?= cargo
DEMO_VCPUS ?= 4
APT_PACKAGES := cmake libclang-dev gcc make binutils patch

.PHONY: all prereqs rust sign-tool dev-key image test-payloads build patch-payloads demo race-demo scenarios test bench nmi-sweep lint fmt clean

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

# Every Rust target (the tools, the tests, the examples) in one cargo run,
# with the one feature set that `cargo test` resolves (dev-dependencies
# included). Building the tools alone, or one package alone, resolves other
# features for two dozen shared crates (serde, libc, memchr, ...), and the
# tests would compile those and everything above them again: one clean
# build instead of three, and `make test` and `make scenarios` only run
# what this compiled.
rust: prereqs
	$(CARGO) build --release --workspace --bins --tests --examples

# livepatch-sign signs the test payloads.
sign-tool: rust

# A fresh development key pair (mini-xen/keys/README.md): the public key
# is built into the next image, the secret one signs test payloads.
DEV_KEY := mini-xen/keys/livepatch-dev
dev-key: sign-tool
	./target/release/livepatch-sign --new-key $(DEV_KEY)

# Hand-written test payloads, built against the current build-id and
# signed with the development key into payloads/build/test/NAME.livepatch.
test-payloads: image sign-tool
	$(MAKE) -C mini-xen tests

build: image test-payloads rust

# Payloads livepatch-build makes from payloads/patches/NAME.patch, signed
# with the development key, into payloads/build/patches/NAME/NAME.livepatch;
# each is rebuilt when its patch or the hypervisor is newer. The scenarios
# use them.
PATCH_PAYLOADS := lp-extraversion xsa-write-word-align
patch-payloads: build
	@mkdir -p payloads/build/patches
	@for p in $(PATCH_PAYLOADS); do \
		out=payloads/build/patches/$$p; \
		if [ ! -f $$out/$$p.livepatch ] || [ payloads/patches/$$p.patch -nt $$out/$$p.livepatch ] \
			|| [ mini-xen/build/mini-xen -nt $$out/$$p.livepatch ]; then \
			echo "livepatch-build $$p"; \
			./target/release/livepatch-build -s mini-xen -p payloads/patches/$$p.patch -o $$out \
				--sign $(DEV_KEY).key > $$out.log 2>&1 || { cat $$out.log; exit 1; }; \
		fi; \
	done

# Build a payload from a source patch (livepatch-build shows its report),
# then boot on 4 vCPUs and run the live-patch story of scenarios/demo.toml,
# printing the session and checking every expectation.
DEMO_PATCH := payloads/patches/lp-extraversion.patch
demo: build
	./target/release/livepatch-build -s mini-xen -p $(DEMO_PATCH) -o payloads/build/patches/lp-extraversion \
	    --sign $(DEV_KEY).key
	./target/release/testbed run --verbose scenarios/demo.toml
	$(MAKE) race-demo

# The race hunt, end to end: the bounded-exhaustive NMI sweep of the write
# window under livepatch-nmi=none finds the torn patch site (explore exits
# 1 when it finds something), the replay reproduces it and draws its
# timeline, and headless Chromium (installed if missing) renders the
# picture to target/race-timeline.png.
RACE_OUT := target/race-demo
race-demo: build patch-payloads
	@dpkg-query -W -f='$${Status}' chromium 2>/dev/null | grep -q "ok installed" || { \
		SUDO=""; [ "$$(id -u)" = 0 ] || SUDO=sudo; \
		$$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq chromium; }
	rm -rf $(RACE_OUT)
	./target/release/testbed explore scenarios/nmi-race-sweep.toml --jobs 2 --out $(RACE_OUT); \
		test $$? = 1
	./target/release/testbed replay $(RACE_OUT)/*.replay.toml --timeline target/race-timeline.svg
	chromium --headless --no-sandbox --disable-gpu --window-size=1200,420 \
		--screenshot=$(CURDIR)/target/race-timeline.png file://$(CURDIR)/target/race-timeline.svg 2>/dev/null
	@test -s target/race-timeline.png && echo "timeline: target/race-timeline.svg, rendered to target/race-timeline.png"

# The regression suite: every scenario file, with a JUnit report.
SCENARIOS := $(filter-out scenarios/Cargo.toml,$(wildcard scenarios/*.toml))
scenarios: patch-payloads
	./target/release/testbed run --junit target/scenarios.xml $(SCENARIOS)

# The scenario suite runs inside (scenarios/tests/suite.rs).
test: build patch-payloads
	$(CARGO) test --release --workspace

# Criterion benchmarks; benches/callpath.rs also writes the emulated
# call-path table and its bar chart (target/criterion/callpath.{md,svg})
# and the native summary (target/criterion/callpath-native.md).
bench: patch-payloads
	$(CARGO) bench --workspace

# The exhaustive NMI/MCE sweep of the live-patch write window, every
# livepatch-nmi= policy on 1, 2, 4 and 8 vCPUs (emulator/tests/nmi_policy.rs;
# make test runs a strided subset).
nmi-sweep: build
	$(CARGO) test --release --workspace --test nmi_policy -- --ignored --nocapture

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
	./target/release/fuzz-loader --runs $(RUNS) --seed $(SEED)
