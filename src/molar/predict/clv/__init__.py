"""Customer lifetime value: BG/NBD for visits and dropout, Gamma-Gamma for spend per visit."""

from molar.predict.clv.bgnbd import BetaGeoModel
from molar.predict.clv.data import ClvInputError, Summary, read_transactions, summarise
from molar.predict.clv.gamma_gamma import GammaGammaModel

__all__ = ["BetaGeoModel", "ClvInputError", "GammaGammaModel", "Summary", "read_transactions", "summarise"]
