"""Predictive models on the profile: lifetime value (BG/NBD + Gamma-Gamma) and churn risk.

One folder per capability (``clv/``, ``churn/``), one file per model. Results land in the
``profile`` schema keyed by golden ID.
"""
