"""Findings: deviations found by sweeps."""

from auditor.findings.model import Finding

__all__ = ["Finding"]
