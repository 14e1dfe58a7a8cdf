"""The evidence log: an append-only RFC 6962 Merkle log over the audit trail, signed checkpoints, proofs,
auditor bundles and the standalone verifier (``verify.py``). See docs/evidence.md."""
