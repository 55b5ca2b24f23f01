"""Canonical dental data model: column contracts shared by every layer."""

from molar.model import codes
from molar.model.contract import Column, Contract
from molar.model.tables import CONTRACTS, get_contract

__all__ = ["CONTRACTS", "Column", "Contract", "codes", "get_contract"]
