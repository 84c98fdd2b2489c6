#!/usr/bin/env bash
# Make the lent GPU machine able to run benchmarks/gpu_check.py, from files carried to it.
#
# The machine (see docs/benchmarks.md, "On a GPU") has Python 3.12 with torch + CUDA, numpy,
# sentencepiece, sacrebleu, pandas, but no fairseq and no network. Two steps:
#
#   here (a machine with PyPI):   bash benchmarks/device_setup.sh fetch    -> wheels312/ (carry it)
#   there:                        bash benchmarks/device_setup.sh install  -> .device-site/
#                                 bash benchmarks/device_setup.sh check [gpu_check options]
#
# `install` puts only what the machine lacks into .device-site/ (a --target directory put first
# on PYTHONPATH: the machine's own environment is never changed) and compiles fairseq-fixed from
# its sdist against the machine's torch (C++/Cython extensions only: CUDA_HOME is unset so that
# no nvcc build runs). `check` runs the GPU check with that path, writing into $OUT when set.
set -euo pipefail
cd "$(dirname "$0")/.."
WHEELS=${WHEELS:-wheels312}
SITE=${SITE:-.device-site}
PY=${PY:-python3}
FETCH_PY=${FETCH_PY:-.venv/bin/python}  # fetch: an environment with torch, numpy and Cython (make install)

# import name -> exact pin (requirements/lock.txt): fairseq's and the plugin's run-time imports
# that a bare torch machine may lack, and the build tools of fairseq's extensions
PACKAGES=(
  "hydra:hydra-core==1.3.2" "omegaconf:omegaconf==2.3.0"
  "yaml:PyYAML==6.0.4" "bitarray:bitarray==3.12.3" "regex:regex==2026.11.19" "tqdm:tqdm==4.70.1"
  "scipy:scipy==1.17.1" "sklearn:scikit-learn==1.9.1" "joblib:joblib==1.6.0"
  "threadpoolctl:threadpoolctl==3.8.0" "soundfile:soundfile==0.14.0" "cffi:cffi==2.1.1"
  "pycparser:pycparser==3.12" "Cython:Cython==3.3.1" "setuptools:setuptools==84.2.1"
  "wheel:wheel==0.48.0" "packaging:packaging==26.4"
)
# no wheels exist of these: carried as sdists and built there (pure Python, then fairseq)
SDISTS=("antlr4:antlr4-python3-runtime==4.9.3:antlr4-python3-runtime-4.9.3.tar.gz")
FAIRSEQ="fairseq-fixed==0.12.3.1"
FAIRSEQ_SHA256=c607577a54ab30e2ee0f0b0a754ea5cdbc6ad0a9f99a1726638a2201445bc1cc

fetch() {
  mkdir -p "$WHEELS"
  local specs=()
  for p in "${PACKAGES[@]}"; do specs+=("${p#*:}"); done
  "$FETCH_PY" -m pip download --quiet --no-deps --only-binary=:all: --python-version 3.12 \
    --platform manylinux2014_x86_64 --platform manylinux_2_17_x86_64 \
    --platform manylinux_2_28_x86_64 -d "$WHEELS" "${specs[@]}"
  # sdists; --no-build-isolation: fairseq's metadata step would otherwise install a CUDA torch
  for p in "${SDISTS[@]}"; do
    p=${p#*:}
    "$FETCH_PY" -m pip download --quiet --no-deps --no-binary :all: -d "$WHEELS" "${p%%:*}"
  done
  "$FETCH_PY" -m pip download --quiet --no-deps --no-binary :all: --no-build-isolation -d "$WHEELS" "$FAIRSEQ"
  echo "$FAIRSEQ_SHA256  $WHEELS/fairseq_fixed-0.12.3.1.tar.gz" | sha256sum -c -
  du -sh "$WHEELS"
  echo "carry limit: 64 MiB in all (with the working tree); drop from $WHEELS what the device has"
}

install() {
  mkdir -p "$SITE"
  export PYTHONPATH="$PWD/$SITE${PYTHONPATH:+:$PYTHONPATH}"
  local missing=()
  for p in "${PACKAGES[@]}"; do
    "$PY" -c "import ${p%%:*}" 2>/dev/null || missing+=("${p#*:}")
  done
  if ((${#missing[@]})); then
    echo "installing into $SITE: ${missing[*]}"
    "$PY" -m pip install --quiet --no-index --find-links "$WHEELS" --no-deps --target "$SITE" "${missing[@]}"
  fi
  for p in "${SDISTS[@]}"; do
    "$PY" -c "import ${p%%:*}" 2>/dev/null || "$PY" -m pip install --quiet --no-index --no-deps \
      --no-build-isolation --target "$SITE" "$WHEELS/${p##*:}"
  done
  if ! "$PY" -c "import fairseq" 2>/dev/null; then
    echo "building $FAIRSEQ against $("$PY" -c 'import torch; print("torch", torch.__version__)')"
    env -u CUDA_HOME "$PY" -m pip install --quiet --no-index --no-deps --no-build-isolation \
      --target "$SITE" "$WHEELS/fairseq_fixed-0.12.3.1.tar.gz"
  fi
  "$PY" -c "import fairseq, numpy, torch; print('fairseq', fairseq.__version__, 'numpy', numpy.__version__, 'torch', torch.__version__, 'cuda', torch.cuda.is_available())"
}

check() {
  export PYTHONPATH="$PWD/$SITE:$PWD${PYTHONPATH:+:$PYTHONPATH}"
  "$PY" benchmarks/gpu_check.py --out "${OUT:-.}/gpu-check" "$@"
}

case "${1:-}" in
  fetch) fetch ;;
  install) install ;;
  check) shift; check "$@" ;;
  *) echo "usage: $0 fetch | install | check [gpu_check.py options]" >&2; exit 2 ;;
esac
