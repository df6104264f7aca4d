"""`auditor init`: a commented starter auditor.toml and an empty rules layout, never overwriting anything."""

from __future__ import annotations

from pathlib import Path

STARTER_TOML = """\
# auditor.toml: settings of the compliance auditor (see docs/operations.md).
# Precedence for every setting: command-line option > environment > this file > default.
# Never put a password here: the file is refused if it holds one. Set them in the environment:
#   AUDITOR_SMTP_PASSWORD  (digest e-mail), AUDITOR_DATABASE_URL or PGPASSWORD (database).

# ---- policy: the organisation's calendar and overrides (top-level keys) ----
timezone = "UTC"                  # IANA name, e.g. "Europe/Berlin": decides periods, overdue and waiver expiry
# holidays = [2026-12-25, 2026-12-26]

# [due_days]                      # days to fix a finding, by severity
# critical = 7
# high = 14
# medium = 30
# low = 90

# [params."MAT-001"]              # override a rule's params
# tat_days = 10

[database]
# url = "sqlite:///auditor.db"    # or postgresql+psycopg://auditor@dbhost/auditor (password: PGPASSWORD)

[paths]
rules = ["rules"]                 # rule files or folders (relative to this file)
reports = "reports"               # report folder: <reports>/<sweep>/index.html
# policy = "policy.yml"           # a separate policy file instead of the keys above

[owners]                          # owner (rule `owner:` or assigned owner) = e-mail address
# sales-operations = "sales-ops@example.com"
# sales-management = "head-of-sales@example.com"

[digest]
# from = "auditor@example.com"    # required to send digests (or AUDITOR_DIGEST_FROM)
# report_url = "https://intranet.example.com/audit/{sweep}/index.html"   # link in every digest
attach_report = true              # attach index.html to every digest

[smtp]                            # or AUDITOR_SMTP_HOST / _PORT / _TLS / _USER
host = "localhost"
# port = 587                      # default by tls: 587 starttls, 465 ssl, 25 none
tls = "starttls"                  # starttls, ssl or none
# user = "auditor"                # password from AUDITOR_SMTP_PASSWORD
"""

RULES_README = """\
Rule files (`*.yml`, one per process area) go here; their test cases go in tests/, one file per rule.
See docs/rules.md. Check them with `auditor rules check` and `auditor rules test` before a sweep uses them.
"""


def write_starter(folder: Path) -> list[Path]:
    """Write auditor.toml, rules/ and rules/tests/ into a folder; FileExistsError (nothing written) if one exists."""
    files = {folder / "auditor.toml": STARTER_TOML, folder / "rules" / "README.md": RULES_README}
    dirs = [folder / "rules", folder / "rules" / "tests"]
    existing = [p for p in files if p.exists()]
    if existing:
        raise FileExistsError(f"{', '.join(map(str, existing))} already exist(s); nothing was written")
    created = [d for d in dirs if not d.exists()]
    for directory in dirs:
        directory.mkdir(parents=True, exist_ok=True)
    for path, text in files.items():
        with path.open("x", encoding="utf-8") as handle:  # "x": never overwrite, even in a race
            handle.write(text)
    return [*created, *files]
