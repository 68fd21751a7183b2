# Headless environment of IVCReconstruction: `make test`, `make demo`, `make bench`.
# The first run creates .venv from a Python 3.12 found by tools/find-python.sh (or PYTHON=...),
# installs the pinned requirements and the project (editable); later runs reuse it.
VENV := .venv
STAMP := $(VENV)/.installed
BIN := $(VENV)/bin
DEMO_OUT ?= out/demo

.PHONY: test demo bench lint venv clean

venv: $(STAMP)

$(STAMP): requirements.txt pyproject.toml tools/find-python.sh
	@PY=$$(tools/find-python.sh) || exit 1; \
	  echo "creating $(VENV) with $$PY"; \
	  rm -rf $(VENV) && "$$PY" -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements.txt
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e .
	@touch $(STAMP)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check IVCReconstruction/IVCReconstructionLib IVCReconstruction/IVCReconstructionSelfTest Testing tools

# On every core, a test file per worker (its module fixtures built once). One thread per
# worker for ITK and BLAS: with two workers on two cores, more threads only contend for them.
test: lint
	ITK_GLOBAL_DEFAULT_NUMBER_OF_THREADS=1 OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 \
	  $(BIN)/python -m pytest -n auto --dist loadfile

demo: $(STAMP)
	$(BIN)/ivc-plan demo --out $(DEMO_OUT)

bench: $(STAMP)
	$(BIN)/python tools/bench.py
	$(BIN)/python tools/accuracy.py
	# The whole robustness matrix of issue 12 (108 cells, about an hour on 2 cores) and its table.
	rm -f bench-output/robustness.jsonl
	$(BIN)/python tools/robustness.py --out bench-output/robustness.jsonl
	$(BIN)/python tools/robustness.py --table bench-output/robustness.jsonl > bench-output/robustness.md

clean:
	rm -rf $(VENV) out .pytest_cache .ruff_cache
