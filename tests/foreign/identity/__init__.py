"""An independent generator of patient records with ground truth, for identity resolution.

Written apart from molar.synth so identity can be measured on data it was not tuned to.
See README.md beside this file for the world it models and its measured noise rates.
"""

from foreign.identity.generate import generate
from foreign.identity.oracle import shared_identifier_pairs

__all__ = ["generate", "shared_identifier_pairs"]
