#!/bin/sh
# Ingest the BPI Challenge 2012 log into ./auditor.db (fresh) and sweep it with this example's rules.
# Run from an empty directory: sh /path/to/auditor/examples/bpic2012/run.sh
set -eu
HERE="$(cd "$(dirname "$0")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
DATA="$ROOT/../shared/data/external/bpic2012/events.csv.gz"
AUDITOR="$ROOT/.venv/bin/auditor"
[ -x "$AUDITOR" ] || AUDITOR=auditor
[ -f "$DATA" ] || { echo "missing $DATA (../shared beside the project)" >&2; exit 2; }
rm -f auditor.db
"$AUDITOR" ingest --db sqlite:///auditor.db --mapping "$HERE/mapping.yml" "$DATA"
# The log runs from 2011-10-01 00:38 +02:00 (2011-09-30 in UTC) to 2012-03-14.
"$AUDITOR" sweep --db sqlite:///auditor.db --rules "$HERE/rules.yml" --since 2011-09-30 --as-of 2012-03-14 "$@"
