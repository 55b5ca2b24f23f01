"""Synthetic dental chain generator with ground truth (the demo data).

>>> from molar.synth import generate, SynthConfig          # doctest: +SKIP
>>> result = generate(SynthConfig(out_dir=Path("out"), patients=20_000))
>>> result.manifest["files"]["sources/his/visits.csv"]["rows"]

See docs/synthetic-chain.md for the files, their quirks and the noise rates.
"""

from molar.synth.config import NoiseRates, SynthConfig
from molar.synth.generator import SynthResult, generate

__all__ = ["NoiseRates", "SynthConfig", "SynthResult", "generate"]
