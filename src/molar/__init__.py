"""Molar: customer data platform and CRM brain for dental clinic chains."""

__version__ = "0.1.0"
