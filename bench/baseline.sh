#!/usr/bin/env bash
# Benchmarks of this checkout against an earlier commit, alternated in one run (the machines are
# noisy: report ratios within a run). Usage: bench/baseline.sh COMMIT [service|ingest|all]
# The earlier commit is checked out (git worktree) under bench/out/base-COMMIT and run from this
# checkout's .venv with PYTHONPATH pointing at its sources (the dependencies must be the same).
set -euo pipefail
cd "$(dirname "$0")/.."
commit=${1:?give the baseline commit}
what=${2:-all}
base=bench/out/base-$commit
mkdir -p bench/out
[ -d "$base" ] || git worktree add -f "$base" "$commit" >/dev/null
py=.venv/bin/python
old() { PYTHONPATH="$PWD/$base/src" "$py" "$@"; }
new() { "$py" "$@"; }
service_args=(--workers 1 2 --connections 8 16 --duration 15 --batches 20)
if [ "$what" = service ] || [ "$what" = all ]; then
  for round in 1 2; do
    reuse=(); [ "$round" = 2 ] && reuse=(--reuse)
    old bench/service.py "${service_args[@]}" "${reuse[@]}" --data bench/data-service-base \
      --label "service-base-$round"
    new bench/service.py "${service_args[@]}" "${reuse[@]}" --data bench/data-service \
      --label "service-new-$round"
  done
fi
if [ "$what" = ingest ] || [ "$what" = all ]; then
  for round in 1 2; do
    old bench/registry.py ingest --records 2000000 --parts 2 > "bench/out/ingest-base-$round.log"
    cp bench/out/registry-ingest.json "bench/out/ingest-base-$round.json"
    new bench/registry.py ingest --records 2000000 --parts 2 > "bench/out/ingest-new-$round.log"
    cp bench/out/registry-ingest.json "bench/out/ingest-new-$round.json"
  done
fi
