#!/bin/bash
# One-segment search, before and after the living index: a format-2 index searched by a
# `tartan` built from the last commit before format 3 (1f737c7), and the same index
# upgraded to format 3 (`tartan upgrade`, same codes) searched by today's `tartan`.
# Rounds alternate old and new so that both see the same load; prints the mean
# milliseconds a query (one search thread, k = 10 defaults) of each run, then whether
# the two runs returned identical results.
#
#   bash benches/scripts/ab-one-segment.sh OLD_TARTAN NEW_TARTAN FORMAT2_DIR FORMAT3_DIR Q.npy
set -euo pipefail
old_bin=$1 new_bin=$2 f2=$3 f3=$4 queries=$5
n=$(python3 -c "import sys; h=open(sys.argv[1],'rb').read(256).decode('latin1'); print(h.split('shape')[1].split('(')[1].split(',')[0])" "$queries")
out=$(mktemp -d)
for round in 1 2 3 4 5; do
  for who in old new; do
    if [ "$who" = old ]; then bin=$old_bin idx=$f2; else bin=$new_bin idx=$f3; fi
    start=$(date +%s%N)
    "$bin" search --index "$idx" --query-embeddings "$queries" --threads 1 -k 10 --format trec --quiet > "$out/$who.trec"
    end=$(date +%s%N)
    echo "round $round $who $(( (end - start) / n / 1000 )) us a query"
  done
done
cmp -s "$out/old.trec" "$out/new.trec" && echo "identical results" || echo "results differ"
rm -rf "$out"
