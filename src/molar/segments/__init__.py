"""Segments: named, versioned groups of patients defined by a condition over their profile
(catalogue.py, facts.py), sized and listed on demand and refreshed into stored members whose
changes are ``segment.entered`` / ``segment.exited`` events for the automation engine
(members.py). See docs/console.md."""
