#!/bin/sh
# Flatten the order-management OCEL 2.0 log per order (events.csv), ingest it into ./auditor.db (fresh) and
# sweep it with this example's rules, as of the log's last day.
# Run from an empty directory: sh /path/to/auditor/examples/order-management/run.sh
set -eu
HERE="$(cd "$(dirname "$0")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
DATA="$ROOT/../shared/data/external/order-management/running-example.sqlite"
AUDITOR="$ROOT/.venv/bin/auditor"
PYTHON="$ROOT/.venv/bin/python"
[ -x "$AUDITOR" ] || AUDITOR=auditor
[ -x "$PYTHON" ] || PYTHON=python3
[ -f "$DATA" ] || { echo "missing $DATA (../shared beside the project)" >&2; exit 2; }
rm -f auditor.db
"$PYTHON" "$HERE/ocel_events.py" "$DATA" events.csv
"$AUDITOR" ingest --db sqlite:///auditor.db --mapping "$HERE/mapping.yml" events.csv
# The last day of the log: its latest event (2024-05-10).
AS_OF="$("$PYTHON" -c 'import csv, sys; print(max(r["timestamp"] for r in csv.DictReader(open(sys.argv[1])))[:10])' events.csv)"
"$AUDITOR" sweep --db sqlite:///auditor.db --rules "$HERE/rules.yml" --since 2023-04-01 --as-of "$AS_OF" "$@"
