"""Privacy: field encryption and keys, blind indexes, consent registry, data-subject rights,
accounts, access policy, masking and the audit log (see docs/privacy.md)."""
