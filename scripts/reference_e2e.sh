#!/usr/bin/env bash
# Compare jetstream's statistics with the reference implementation's on simulated data.
#
#   scripts/reference_e2e.sh WORKDIR [CLIENTS] [SEED]
#
# Uses scripts/reference/e2e (the reference pipeline on a local BigQuery emulator). Steps:
# simulate Parquet telemetry with a planted lift, run the reference (PyPI mozilla-jetstream,
# unmodified) and jetstream on the same rows, recipe and config, and run its compare.py.
set -euo pipefail
work=$(realpath -m "${1:?usage: reference_e2e.sh WORKDIR [CLIENTS] [SEED]}")
clients=${2:-2000}
seed=${3:-21}
here=$(cd "$(dirname "$0")/.." && pwd)
e2e="$here/scripts/reference/e2e"
mkdir -p "$work"
cargo build --release -q -p jetstream-cli --manifest-path "$here/Cargo.toml"
target=$(cargo metadata --format-version 1 --no-deps --manifest-path "$here/Cargo.toml" |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')
js="$target/release/jetstream"
(cd "$work" && bash "$e2e/setup.sh")
rm -rf "$work/data" "$work/ref" "$work/cand"
"$js" simulate --format parquet --output "$work/data" --experiments-file "$work/experiments.json" \
    --config-dir "$work/configs" --clients "$clients" --seed "$seed" --effect active_hours_sum=0.2
slug=jetstream-sim-two-branches
python3 - "$work" "$slug" <<'PY'
import json, sys
work, slug = sys.argv[1], sys.argv[2]
recipes = json.load(open(f"{work}/experiments.json"))
json.dump(next(r for r in recipes if r["slug"] == slug), open(f"{work}/recipe.json", "w"))
PY
dates=2026-01-17,2026-01-22,2026-01-28
periods=week,overall,preenrollment_week
(cd "$work" && .e2e/jsvenv/bin/python "$e2e/run_reference_e2e.py" --data "$work/data" \
    --experiment "$work/recipe.json" --config-file "$work/configs/$slug.toml" \
    --dates "$dates" --periods "$periods" --out "$work/ref")
mkdir -p "$work/cand"
db="duckdb:$work/cand/jetstream.duckdb"
rm -f "$work/cand/jetstream.duckdb"
for date in ${dates//,/ }; do
    "$js" run --date "$date" --warehouse "$db" --data "$work/data" \
        --experiments-file "$work/recipe.json" --config-file "$work/configs/$slug.toml" \
        --experiment-slug "$slug" --analysis-periods "$periods"
done
tables=$("$js" query --warehouse "$db" --format json \
    "SELECT table_name FROM information_schema.tables WHERE table_schema = 'mozanalysis' AND table_type = 'BASE TABLE' AND table_name LIKE 'statistics_%'")
for t in $(echo "$tables" | python3 -c 'import json,sys; print(" ".join(r["table_name"] for r in json.load(sys.stdin)))'); do
    "$js" query --warehouse "$db" --format json "SELECT * FROM mozanalysis.$t" |
        python3 -c '
import json, sys
t = sys.argv[1]
rows = json.load(sys.stdin)
key = ("metric", "statistic", "analysis_basis", "segment", "branch", "comparison", "comparison_to_branch", "parameter", "ci_width")
rows.sort(key=lambda r: tuple("" if r.get(k) is None else str(r[k]) for k in key))
json.dump({"table": t, "rows": rows}, open(sys.argv[2], "w"), indent=1)
' "$t" "$work/cand/$t.json"
done
python3 "$e2e/compare.py" "$work/cand" "$work/ref"
