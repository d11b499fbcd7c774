# pimacc: `make demo` sets everything up and runs an FC layer on the simulated accelerator;
# `make test` runs what CI runs.

PYTHON_SYS ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
# Verilog geometry for `make verilog` (and the demo/bench accelerator).
ROWS ?= 16
COLS ?= 16
BANKS ?= 2
SIM ?= icarus
# pytest-xdist workers
JOBS ?= 2
export SIM

.PHONY: setup iverilog riscv clang verilog synth sim test test-all demo bench docs lint train clean c \
	soc

setup: $(STAMP) iverilog riscv

$(STAMP): pyproject.toml
	$(PYTHON_SYS) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e ".[dev]"
	touch $@

# Icarus Verilog from Debian when it is missing (needs root, as on CI).
iverilog:
	@command -v iverilog >/dev/null || { \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -q && $$SUDO apt-get install -y -q iverilog; }

# Debian's RISC-V cross compiler for the firmware of the RISC-V system (`make soc`; the
# firmware is freestanding: no C library needed), when it is missing (needs root, as on CI).
riscv:
	@command -v riscv64-unknown-elf-gcc >/dev/null || { \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -q && $$SUDO apt-get install -y -q gcc-riscv64-unknown-elf; }

# Debian's clang for tinygrad's CPU backend (training the digits CNN only).
clang:
	@command -v clang >/dev/null || { \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -q && $$SUDO apt-get install -y -q clang; }

# Retrain the digits networks (scikit-learn's MLP, tinygrad's CNN, about 20 s) and rewrite
# their weights in sw/nets/.
train: setup clang
	$(PY) -m sw.nets.digits --train-mlp --train-cnn && $(PY) -m sw.nets.adder --train

verilog: $(STAMP)
	$(PY) -m hw.gen --rows $(ROWS) --cols $(COLS) --banks $(BANKS) -o build/pimacc_$(ROWS)x$(COLS).v

# Yosys + nextpnr for an ECP5 (LFE5U-85F, speed 8): LUT4, FF, DSP, BRAM and Fmax of this
# geometry, added to build/synth.json (4x4 takes about 6 minutes, 8x8 15 to 35; 16x16 places
# in about 20 but does not route, see the README). More options of python -m hw.synth in SYNTH_ARGS, say
# SYNTH_ARGS=--yosys-flags=-noabc9
synth: $(STAMP)
	$(PY) -m hw.synth --rows $(ROWS) --cols $(COLS) --banks $(BANKS) -o build/synth.json --table \
		$(SYNTH_ARGS)

# The cocotb suites (block and top level) on $(SIM).
sim: setup
	$(PY) -m pytest -m block -n $(JOBS)

# What CI runs: every test that fits in 20 minutes on 2 cores.
test: setup
	$(PY) -m pytest -m "not slow" -n $(JOBS)

test-all: setup
	$(PY) -m pytest -n $(JOBS)

demo: setup
	$(PY) -m sw.demo --target $(SIM)

bench: setup
	$(PY) -m sw.bench --target $(SIM) -o build/bench.json
	$(PY) -m sw.soc --rows $(ROWS) --cols $(COLS) --banks $(BANKS) --json build/soc.json
	$(PY) -m sw.c.build --rows $(ROWS) --cols $(COLS) --banks $(BANKS) --pgo --run -- --seconds 5
	$(PY) -m sw.nets.zoo --net mobilenet_v1 --size 224 --width 1.0 --target harness --parallel 2 \
	  --json build/zoo.json
	$(PY) -m sw.nets.zoo --net resnet18 --size 224 --width 1.0 --target harness --parallel 2 \
	  --json build/zoo.json

# Generated documents: the register map, the block table, the quoted demo output (Icarus).
docs: setup
	$(PY) -m hw.docs
	$(PY) -m hw.spec.cheader
	$(PY) -m sw.bench.report docs/bench.json --readme README.md
	$(PY) -m sw.nets.zoo --markdown docs/zoo.json --readme README.md
	$(PY) -m sw.nets.adder --markdown docs/adder.json --readme README.md
	$(PY) -m hw.synth -o docs/synth.json --readme README.md --notebook docs/synthesis.md
	$(PY) -m sw.nets.digits --readme README.md
	$(PY) -m sw.cim --from-json --plot '' --readme README.md
	$(PY) -m sw.demo --target icarus --readme README.md

# The C driver on the Verilated RTL (sw/c/): build the host harness for $(ROWS)x$(COLS), run
# its checked layer and print its simulated cycles per second.
c: setup
	$(PY) -m sw.c.build --rows $(ROWS) --cols $(COLS) --banks $(BANKS) --run

# The RISC-V system (sw/soc/): PicoRV32 + RAM + the $(ROWS)x$(COLS) accelerator, Verilated; its
# firmware classifies digits with and without the accelerator (every logit checked against the
# golden model), prints the core cycles per inference and the speed-up, and rewrites
# docs/soc.json and the README's table from them.
soc: setup
	$(PY) -m sw.soc --rows $(ROWS) --cols $(COLS) --banks $(BANKS) --json docs/soc.json \
	  --readme README.md

lint: $(STAMP)
	$(VENV)/bin/ruff check hw sw models verif

clean:
	rm -rf build sim_build .pytest_cache
