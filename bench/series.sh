#!/usr/bin/env bash
# The time-series comparison: `lstm-native train series` against the Keras peer (bench/peers/keras_series.py), the same
# model, windows, split and scaling, one seed per run, each run under the shared lock. Appends JSON lines to OUT.
# Usage: bench/series.sh OUT CSV COLUMN WINDOW "SEEDS" [extra lstm-native flags]
# (run `npm run build:ts` first; the peer runs in bench/.venv, made by `node bench/run.mjs --setup`)
set -euo pipefail
out=$1 csv=$2 col=$3 win=$4 seeds=$5; shift 5
lock=${LOCK:-/tmp/heavy.lock}
for seed in $seeds; do
  flock "$lock" node dist/cli.js train series --csv "$csv" --target "$col" --window "$win" --fill linear --seed "$seed" "$@" > /tmp/series-run.$$.log
  mae=$(sed -n 's/^test MAE: \([0-9.e-]*\), RMSE: \([0-9.e-]*\).*/\1 \2/p' /tmp/series-run.$$.log)
  base=$(sed -n 's/^baseline last value: MAE \([0-9.e-]*\), RMSE.*/\1/p' /tmp/series-run.$$.log)
  secs=$(sed -n 's/^training \([0-9.]*\) s.*/\1/p' /tmp/series-run.$$.log)
  echo "{\"engine\":\"lstm-native\",\"csv\":\"$csv\",\"column\":\"$col\",\"window\":$win,\"seed\":$seed,\"mae\":${mae% *},\"rmse\":${mae#* },\"baseline_mae\":$base,\"fit_seconds\":$secs,\"flags\":\"$*\"}" >> "$out"
  flock "$lock" bench/.venv/bin/python bench/peers/keras_series.py "$csv" "$col" "$win" "$seed" diff | grep '^{' >> "$out"
done
rm -f /tmp/series-run.$$.log
