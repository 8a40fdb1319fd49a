#!/usr/bin/env bash
# The committed SensorLM CPU result (protocol: results/sensorlm-cpu.md, written before any run).
# Usage: IMUDATA_HOME=/path/to/converted bash results/sensorlm-cpu.sh [SEEDS...]   (default: 0)
# Needs hapt and motionsense converted under $IMUDATA_HOME (imudata fetch NAME --from ../shared/realdata/NAME).
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-runs/sensorlm-cpu}
MAN=manifests/sensorlm-dev.yaml
SEEDS=${*:-0}
mkdir -p "$RUNS"
# level name -> recipe overrides
declare -A LEVEL=(
  [low]="--set sensorlm.caption_level=low"
  [middle]="--set sensorlm.caption_level=middle"
  [high_all]="--set sensorlm.caption_level=high_all"
  [label-free]="--set sensorlm.caption_level=middle_low --set sensorlm.caption_labels=false"
)
for seed in $SEEDS; do
  for lv in high_all label-free low middle; do
    out="$RUNS/$lv-s$seed"
    if [ -f "$out/eval-sensorlm-dev/results.json" ]; then continue; fi
    if [ ! -f "$out/pretrain/model.safetensors" ]; then
      rm -rf "$out"
      python -m imutrain.cli pretrain "$MAN" --recipe sensorlm-tiny ${LEVEL[$lv]} --set seed=$seed --out "$out" -q --threads 1
    fi
    python -m imutrain.cli eval "$out" --manifest "$MAN" --no-finetune > /dev/null
  done
done
# random-weights control (addendum): the same towers untrained (the high_all run's recipe and seed), the same eval
for seed in $SEEDS; do
  c="$RUNS/control/untrained-s$seed"
  if [ -f "$RUNS/high_all-s$seed/config.yaml" ] && [ ! -f "$c/results.json" ]; then
    python -m imutrain.cli eval "$RUNS/high_all-s$seed" --manifest "$MAN" --no-finetune --untrained --out "$c" > /dev/null
  fi
done
# INT8: the high_all seed-0 run, calibrated (measured) on the same manifest's scored windows
if [ -f "$RUNS/high_all-s0/pretrain/model.safetensors" ] && [ ! -f "$RUNS/high_all-s0/int8/report.json" ]; then
  python -m imutrain.cli quantize "$RUNS/high_all-s0" --calibration "$MAN" > /dev/null
fi
python results/sensorlm_summary.py "$RUNS" results/sensorlm-cpu.json results/sensorlm-cpu-tables.md
