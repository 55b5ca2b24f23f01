"""The living patient profile: tag catalogue, consult sentiment, RFM-Health value scores,
value tiers and lifecycle stages — each explainable (docs/profile.md)."""

from __future__ import annotations

from molar.profile.catalogue import CatalogueError, Tag, load_catalogue
from molar.profile.explain import UnknownPatient, explain_patient
from molar.profile.lifecycle import STAGES, LifecycleConfig
from molar.profile.run import compute_profile
from molar.profile.tiers import TIERS

__all__ = [
    "STAGES", "TIERS", "CatalogueError", "LifecycleConfig", "Tag", "UnknownPatient",
    "compute_profile", "explain_patient", "load_catalogue",
]
