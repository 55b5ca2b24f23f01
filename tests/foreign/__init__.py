"""Realistic data from systems Molar ships no mapping for, written independently of molar.synth."""
