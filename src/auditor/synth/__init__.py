"""Synthetic sales organisation with deviations injected at known rates and their ground truth."""

from auditor.synth.generator import TRUTH_FILE, SynthResult, generate

__all__ = ["TRUTH_FILE", "SynthResult", "generate"]
