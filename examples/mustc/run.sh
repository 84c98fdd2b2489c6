#!/usr/bin/env bash
# The MuST-C recipe in stages, ESPnet style: each stage is one command of the project, its
# options read from a config file (examples/mustc/conf/*.yaml, expanded by conf_args.py).
#
#   bash examples/mustc/run.sh --conf examples/mustc/conf/s2t_salign_s.yaml \
#     --data-root ${MUSTC_ROOT} --stage 0 --stop-stage 7
#
# Stages: 0 prep, 1 MT pre-training, 2 ASR (CTC) pre-training of the acoustic encoder, 3 ST
# multi-task with the alignment, 4 average, 5 generate ST/MT/ASR, 6 score, 7 export.
# `--help` for the options.
set -euo pipefail

usage() {
  cat <<'EOF'
usage: run.sh --conf FILE --data-root DIR [options]

  --conf FILE             the setting: examples/mustc/conf/{s2t_salign_s,paper_hubert,demo,tiny}.yaml
  --data-root DIR         MuST-C root holding en-LANG/data/{train,dev,tst-COMMON,tst-HE}
  --lang LANG             target language (default: de)
  --exp DIR               where checkpoints, outputs and scores go (default: exp/CONF-NAME)
  --stage N               first stage to run (default: 0)
  --stop-stage M          last stage to run (default: 7)
  --python PATH           the Python with fairseq-salign installed; the tools are taken from its
                          directory (default: the python beside fairseq-train on PATH, or
                          .venv/bin/python of this checkout)
  --features KIND         what stages 2-7 read: fbank80 (default) or a --features kind of the
                          prep, prepared in stage 0 besides fbank80 into en-LANG/KIND
  --cpu                   passed to fairseq-train and fairseq-generate
  --force                 run stages again whose output exists (training resumes from
                          checkpoint_last.pt, as fairseq-train always does)
  -h, --help              this text

Stages:
  0  prep: examples/mustc/prep_mustc_data.py                    [conf: prep]
  1  MT pre-training: fairseq-train --training-stage mt          [conf: common + mt]  -> EXP/mt
  2  ASR (CTC) pre-training of the acoustic encoder, from 1      [conf: common + asr] -> EXP/asr
     (skipped when the conf has no asr section)
  3  ST multi-task with the alignment, from 1 (and 2)            [conf: common + st]  -> EXP/st
  4  average: salign-average                                     [conf: average] -> EXP/st/average.pt
  5  generate ST, MT and ASR: fairseq-generate --infer-mode ...  [conf: generate] -> EXP/generate/
  6  score: fairseq-generate's sacreBLEU (ST, MT) and WER (ASR) lines -> EXP/scores.txt
  7  export: salign-export                                       [conf: export]  -> EXP/model

A stage whose output exists and whose command is unchanged is skipped (--force runs it again;
a stage is not run again because an earlier one was).
The conf's `recipe` section gives defaults for these options; the command line overrides them.
EOF
}

die() { echo "run.sh: $*" >&2; exit 1; }

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
stage=0 stop_stage=7 conf="" data_root="" lang=de exp="" python="" features=fbank80
cpu=() force=false

parse_opts() {
  while (($#)); do
    case $1 in
      -h|--help) usage; exit 0 ;;
      --cpu) cpu=(--cpu); shift; continue ;;
      --force) force=true; shift; continue ;;
      --conf|--data-root|--lang|--exp|--stage|--stop-stage|--python|--features)
        (($# >= 2)) || die "$1 needs a value" ;;
      *) die "unknown option $1 (--help lists them)" ;;
    esac
    case $1 in
      --conf) conf=$2 ;; --data-root) data_root=$2 ;; --lang) lang=$2 ;; --exp) exp=$2 ;;
      --stage) stage=$2 ;; --stop-stage) stop_stage=$2 ;; --python) python=$2 ;;
      --features) features=$2 ;;
    esac
    shift 2
  done
}

parse_opts "$@"
[[ -n $conf ]] || die "give --conf FILE (examples/mustc/conf/*.yaml); --help for the options"
[[ -f $conf ]] || die "--conf $conf: no such file"
if [[ -z $python ]]; then
  if command -v fairseq-train >/dev/null && [[ -x $(dirname "$(command -v fairseq-train)")/python ]]; then
    python=$(dirname "$(command -v fairseq-train)")/python
  elif [[ -x $repo/.venv/bin/python ]]; then
    python=$repo/.venv/bin/python
  else
    die "no fairseq-train on PATH and no $repo/.venv: give --python (or run make install)"
  fi
fi
bin=$(dirname "$python")
for tool in fairseq-train fairseq-generate salign-average salign-export; do
  [[ -x $bin/$tool ]] || die "$bin/$tool not found: install fairseq-salign into that environment"
done

# conf_opts ARRAY SECTION...: the sections' options, one word per array element
conf_opts() {
  local -n into=$1
  shift
  local out
  out=$("$python" "$repo/examples/mustc/conf_args.py" --var "EXP=$exp" "$conf" "$@")
  into=()
  [[ -z $out ]] || mapfile -t into <<<"$out"
}

# the conf's defaults for run.sh's own options, then the command line again (it wins)
recipe=()
conf_opts recipe recipe
if ((${#recipe[@]})); then
  parse_opts "${recipe[@]}" "$@"
fi
[[ -n $data_root ]] || die "give --data-root DIR (the MuST-C root holding en-$lang/)"
[[ $stage =~ ^[0-7]$ && $stop_stage =~ ^[0-7]$ ]] || die "--stage and --stop-stage take 0-7"
exp=${exp:-exp/$(basename "$conf" .yaml)}
mkdir -p "$exp/logs" "$exp/done"
exp=$(cd "$exp" && pwd)
data=$data_root/en-$lang
speech_data=$data
[[ $features == fbank80 ]] || speech_data=$data/$features
sections=$("$python" "$repo/examples/mustc/conf_args.py" --sections "$conf")
has_asr=false
grep -qx asr <<<"$sections" && has_asr=true

# options the recipe sets itself: a conf that sets them too is refused, not overridden silently
reserved=(--data-root --languages --features --user-dir --task --training-stage --save-dir
  --load-pretrained-mt-from --load-pretrained-acoustic-from --output --infer-mode --path
  --scoring --checkpoint --data-dir --out)
check_reserved() {  # check_reserved SECTION WORD...
  local section=$1 word option
  shift
  for word in "$@"; do
    for option in "${reserved[@]}"; do
      [[ $word != "$option" ]] ||
        die "$conf: section $section sets $word, which run.sh sets itself (remove it)"
    done
  done
}

# step NAME OUTPUT [--stdout FILE] CMD...: print CMD and run it, unless OUTPUT exists and the
# same command made it (EXP/done/NAME); the output goes to EXP/logs/NAME.log (or FILE)
step() {
  local name=$1 output=$2 stdout="" shown
  shift 2
  if [[ $1 == --stdout ]]; then stdout=$2; shift 2; fi
  shown=$(printf '%q ' "$@")
  shown=${shown% }
  echo "\$ $shown${stdout:+ > $stdout}"
  if ! $force && [[ -e $output && -f $exp/done/$name && $(<"$exp/done/$name") == "$shown" ]]; then
    echo "  done before ($output); --force runs it again"
    return
  fi
  rm -f "$exp/done/$name"
  if [[ -n $stdout ]]; then
    "$@" >"$stdout.partial" 2>"$exp/logs/$name.log" || {
      tail -n 20 "$stdout.partial" "$exp/logs/$name.log" >&2; die "stage failed: $name"; }
    mv "$stdout.partial" "$stdout"
  else
    "$@" 2>&1 | tee "$exp/logs/$name.log" || die "stage failed: $name (log: $exp/logs/$name.log)"
  fi
  printf '%s' "$shown" >"$exp/done/$name"
}

# check_arch SECTION WORD...: a training stage's options name the model (fairseq-train would
# otherwise stop with a bare RuntimeError that names neither the file nor the option)
check_arch() {
  local section=$1
  shift
  [[ " $* " == *" --arch "* ]] ||
    die "$conf: sections common + $section set no arch: add one, e.g. 'arch: s2t_salign_s' under common"
}

need() {  # need FILE WHAT
  [[ -e $1 ]] || die "$1 not found: $2"
}

run_stage() {  # run_stage N: is stage N in --stage..--stop-stage?
  ((stage <= $1 && $1 <= stop_stage))
}

train=("$bin/fairseq-train")
plugin=(--user-dir "$repo/fairseq_salign" --task speech_to_text_salign)

if run_stage 0; then
  echo "== stage 0: prep $data_root (en-$lang)"
  conf_opts opts prep
  check_reserved prep "${opts[@]}"
  step prep_fbank80 "$data/prep_state.json" "$python" "$repo/examples/mustc/prep_mustc_data.py" \
    --data-root "$data_root" --languages "$lang" "${opts[@]}"
  if [[ $features != fbank80 ]]; then
    step "prep_$features" "$speech_data/prep_state.json" "$python" \
      "$repo/examples/mustc/prep_mustc_data.py" --data-root "$data_root" --languages "$lang" \
      --features "$features" "${opts[@]}"
  fi
fi

if run_stage 1; then
  echo "== stage 1: MT pre-training of T-enc + decoder -> $exp/mt"
  conf_opts opts common mt
  check_reserved mt "${opts[@]}"
  check_arch mt "${opts[@]}"
  need "$data/config_st.yaml" "run stage 0 first"
  step train_mt "$exp/mt/checkpoint_best.pt" "${train[@]}" "$data" "${plugin[@]}" "${opts[@]}" \
    --training-stage mt --save-dir "$exp/mt" "${cpu[@]}"
fi

if run_stage 2; then
  if $has_asr; then
    echo "== stage 2: ASR (CTC) pre-training of the acoustic encoder -> $exp/asr"
    conf_opts opts common asr
    check_reserved asr "${opts[@]}"
  check_arch asr "${opts[@]}"
    need "$exp/mt/checkpoint_best.pt" "run stage 1 first"
    step train_asr "$exp/asr/checkpoint_best.pt" "${train[@]}" "$speech_data" "${plugin[@]}" \
      "${opts[@]}" --training-stage asr --load-pretrained-mt-from "$exp/mt/checkpoint_best.pt" \
      --save-dir "$exp/asr" "${cpu[@]}"
  else
    echo "== stage 2: skipped ($conf has no asr section: the acoustic side starts as its st section says)"
  fi
fi

if run_stage 3; then
  echo "== stage 3: ST multi-task with the alignment -> $exp/st"
  conf_opts opts common st
  check_reserved st "${opts[@]}"
  check_arch st "${opts[@]}"
  need "$exp/mt/checkpoint_best.pt" "run stage 1 first"
  acoustic=()
  if $has_asr; then
    need "$exp/asr/checkpoint_best.pt" "run stage 2 first"
    acoustic=(--load-pretrained-acoustic-from "$exp/asr/checkpoint_best.pt")
  fi
  step train_st "$exp/st/checkpoint_last.pt" "${train[@]}" "$speech_data" "${plugin[@]}" \
    "${opts[@]}" --training-stage multitask --load-pretrained-mt-from "$exp/mt/checkpoint_best.pt" \
    "${acoustic[@]}" --save-dir "$exp/st" "${cpu[@]}"
fi

if run_stage 4; then
  echo "== stage 4: average -> $exp/st/average.pt"
  conf_opts opts average
  check_reserved average "${opts[@]}"
  # --inputs PATTERN...: checkpoint files by glob (${EXP} in the conf is --exp); else the last
  # --num-epochs epoch checkpoints of EXP/st
  inputs=() matches=()
  for word in "${opts[@]}"; do
    if [[ $word != --* && $word == *[*?[]* ]]; then
      shopt -s nullglob
      matches=($word)
      shopt -u nullglob
      ((${#matches[@]})) || die "$conf: section average: no checkpoint matches $word"
      inputs+=("${matches[@]}")
    else
      inputs+=("$word")
    fi
  done
  [[ " ${inputs[*]} " == *" --inputs "* ]] || inputs=(--save-dir "$exp/st" "${inputs[@]}")
  step average "$exp/st/average.pt" "$bin/salign-average" "${inputs[@]}" --output "$exp/st/average.pt"
fi

modes=(st mt asr)
if run_stage 5; then
  echo "== stage 5: generate ST, MT and ASR -> $exp/generate/{st,mt,asr}.txt"
  conf_opts opts generate
  check_reserved generate "${opts[@]}"
  need "$exp/st/average.pt" "run stage 4 first"
  mkdir -p "$exp/generate"
  for mode in "${modes[@]}"; do
    scoring=sacrebleu
    [[ $mode != asr ]] || scoring=wer
    step "generate_$mode" "$exp/generate/$mode.txt" --stdout "$exp/generate/$mode.txt" \
      "$bin/fairseq-generate" "$speech_data" "${plugin[@]}" --infer-mode "$mode" "${opts[@]}" \
      --path "$exp/st/average.pt" --scoring "$scoring" "${cpu[@]}"
    echo "  $(grep -c '^D-' "$exp/generate/$mode.txt") hypotheses"
  done
fi

if run_stage 6; then
  echo "== stage 6: score -> $exp/scores.txt"
  : >"$exp/scores.txt.partial"
  for mode in "${modes[@]}"; do
    need "$exp/generate/$mode.txt" "run stage 5 first"
    line=$(grep -E '^Generate .+ with beam=[0-9]+: ' "$exp/generate/$mode.txt" | tail -n 1) ||
      die "$exp/generate/$mode.txt has no score line (fairseq-generate --scoring)"
    [[ $line =~ ^Generate\ (.+)\ with\ beam=[0-9]+:\ (.*)$ ]]
    printf '%s\t%s\t%s\n' "$mode" "${BASH_REMATCH[1]}" "${BASH_REMATCH[2]}" >>"$exp/scores.txt.partial"
  done
  mv "$exp/scores.txt.partial" "$exp/scores.txt"
  cat "$exp/scores.txt"
fi

if run_stage 7; then
  echo "== stage 7: export -> $exp/model"
  conf_opts opts export
  check_reserved export "${opts[@]}"
  need "$exp/st/average.pt" "run stage 4 first"
  scores=()
  if [[ -f $exp/scores.txt ]]; then  # 'st<TAB>tst-COMMON_st<TAB>BLEU = 21.3 ...' -> --score
    while IFS=$'\t' read -r mode subset result; do
      if [[ $result =~ ^(BLEU|WER):?\ =?\ ?([0-9.]+) ]]; then
        scores+=(--score "${subset%_st} ${mode^^} ${BASH_REMATCH[1]}=${BASH_REMATCH[2]}")
      fi
    done <"$exp/scores.txt"
  fi
  step export "$exp/model/salign_model.json" "$bin/salign-export" --checkpoint "$exp/st/average.pt" \
    --data-dir "$speech_data" --out "$exp/model" --force \
    --training-data "train_st of $data" "${scores[@]}" "${opts[@]}"
fi
