# Two commands do all set-up on a fresh Linux machine with Python 3.11:
#   make demo   - create .venv, install, release and verify a sample clip, then generate one with the bundled model
#   make test   - create .venv, install, run ruff and the whole test suite
PYTHON ?= python3.11
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp

.PHONY: install demo test lint clean

$(STAMP): pyproject.toml
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "need $(PYTHON) (Python 3.11); set PYTHON=..."; exit 2; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	# torch first and pinned: an unpinned torch pulled in by another package would be a multi-GB CUDA build
	$(BIN)/python -m pip install --quiet torch==2.13.0
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	mkdir -p demo-output
	$(BIN)/videoguard sample -o demo-output/sample.mp4 --force
	HF_HUB_OFFLINE=1 $(BIN)/videoguard release demo-output/sample.mp4 -o demo-output/released.mp4 --force
	HF_HUB_OFFLINE=1 $(BIN)/videoguard verify demo-output/released.mp4
	HF_HUB_OFFLINE=1 $(BIN)/videoguard generate "a red circle moving to the right on a gray background" \
		-o demo-output/generated.mp4 --seed 1 --force \
	&& HF_HUB_OFFLINE=1 $(BIN)/videoguard verify demo-output/generated.mp4 \
	|| echo "generation was not released (exit $$?): the pipeline fails closed; see the reason above"

lint: $(STAMP)
	$(BIN)/ruff check .

test: $(STAMP)
	$(BIN)/ruff check .
	HF_HUB_OFFLINE=1 OMP_NUM_THREADS=2 $(BIN)/python -m pytest -q -p no:cacheprovider

clean:
	rm -rf $(VENV) demo-output
