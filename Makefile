# fairseq-salign: `make test` and `make demo` are the two commands a new user runs.
# Everything is installed into .venv from pinned versions (requirements/lock.txt); both targets
# are idempotent and re-use what is already installed.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
STAMP := $(VENV)/.fairseq-salign-installed
PYTEST_ARGS ?=

.PHONY: install test demo bench clean-venv

install: $(STAMP)

$(STAMP): requirements/lock.txt requirements/fairseq.txt setup.py
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade "pip>=24"
	$(PIP) install --quiet -r requirements/lock.txt
	@# fairseq-fixed compiles its extensions against the torch installed above (about 3 minutes,
	@# once); --no-deps keeps its unused torchaudio dependency out (see requirements/fairseq.txt).
	@$(PY) -c "import fairseq" 2>/dev/null || \
	  $(PIP) install --no-deps --no-build-isolation -r requirements/fairseq.txt
	$(PIP) install --quiet --no-deps --no-build-isolation -e .
	@$(PY) -c "import fairseq_salign" && touch $@

test: install
	$(PY) -m pytest $(PYTEST_ARGS) tests

demo: install
	$(PY) -m fairseq_salign.demo

bench: install
	$(PY) benchmarks/run.py

clean-venv:
	rm -rf $(VENV)
