#!/bin/sh
# Ingest the CRM opportunity list, product catalogue and sales team list into ./auditor.db (fresh) and sweep
# them with this example's rules, as of the data's last date.
# Run from an empty directory: sh /path/to/auditor/examples/crm-opportunities/run.sh
set -eu
HERE="$(cd "$(dirname "$0")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
DATA="$ROOT/../shared/data/external/crm-opportunities"
AUDITOR="$ROOT/.venv/bin/auditor"
PYTHON="$ROOT/.venv/bin/python"
[ -x "$AUDITOR" ] || AUDITOR=auditor
[ -x "$PYTHON" ] || PYTHON=python3
[ -f "$DATA/sales_pipeline.csv" ] || { echo "missing $DATA (../shared beside the project)" >&2; exit 2; }
rm -f auditor.db
"$AUDITOR" ingest --db sqlite:///auditor.db --mapping "$HERE/pipeline.yml" "$DATA/sales_pipeline.csv"
"$AUDITOR" ingest --db sqlite:///auditor.db --mapping "$HERE/products.yml" "$DATA/products.csv"
"$AUDITOR" ingest --db sqlite:///auditor.db --mapping "$HERE/sales_teams.yml" "$DATA/sales_teams.csv"
# The data's last date: the latest engage or close date (2017-12-31; pipeline.yml dates the export on it).
AS_OF="$("$PYTHON" - "$DATA/sales_pipeline.csv" <<'PY'
import csv, datetime, sys
days = [datetime.datetime.strptime(v, "%m/%d/%Y").date() for r in csv.DictReader(open(sys.argv[1]))
        for v in (r["engage_date"], r["close_date"]) if v]
print(max(days))
PY
)"
"$AUDITOR" sweep --db sqlite:///auditor.db --rules "$HERE/rules.yml" --since 2016-10-01 --as-of "$AS_OF" "$@"
