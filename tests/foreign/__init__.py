"""Data written independently of molar.synth (other noise models, other systems' exports),
to test Molar on data it was not tuned to."""
