"""auditor: a rules-engine compliance auditor for sales organisations."""

__version__ = "0.1.0"
