"""Privacy: who may see what (accounts, policy, masking, audit) and how PII is kept."""
