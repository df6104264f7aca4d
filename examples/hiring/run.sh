#!/bin/sh
# Ingest the hiring process log into ./auditor.db (fresh) and sweep it with this example's rules.
# Run from an empty directory: sh /path/to/auditor/examples/hiring/run.sh
set -eu
HERE="$(cd "$(dirname "$0")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
DATA="$ROOT/../shared/data/external/hiring/events.csv.gz"
AUDITOR="$ROOT/.venv/bin/auditor"
[ -x "$AUDITOR" ] || AUDITOR=auditor
[ -f "$DATA" ] || { echo "missing $DATA (../shared beside the project)" >&2; exit 2; }
rm -f auditor.db
"$AUDITOR" ingest --db sqlite:///auditor.db --mapping "$HERE/mapping.yml" "$DATA"
# The log runs from 2015-01-05 to 2015-01-12 (UTC).
"$AUDITOR" sweep --db sqlite:///auditor.db --rules "$HERE/rules.yml" --since 2015-01-05 --as-of 2015-01-12 "$@"
