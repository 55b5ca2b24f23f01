"""Generators written apart from molar.synth, to test Molar on data it was not tuned to."""
