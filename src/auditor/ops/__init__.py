"""Running the auditor on a schedule: settings (auditor.toml), periods, owner digests, status, the scheduled run."""
