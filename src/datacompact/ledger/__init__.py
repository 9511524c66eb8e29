"""The verifiable ledger: an RFC 6962/9162 transparency log with C2SP formats.

The pure, database-free parts live in this package and import nothing from the
store, so an auditor can verify proofs, notes and checkpoints offline:

- :mod:`.merkle` — tree hashing, proofs and their verification (RFC 9162 §2.1);
- :mod:`.note` — C2SP signed-note with Ed25519 keys;
- :mod:`.checkpoint` — C2SP tlog-checkpoint bodies;
- :mod:`.cosignature` — C2SP tlog-cosignature (Ed25519, type 0x04);
- :mod:`.tiles` — C2SP tlog-tiles paths, tile hashes and entry bundles;
- :mod:`.policy` — C2SP tlog-policy quorums;
- :mod:`.witness` — a C2SP tlog-witness ``add-checkpoint`` server and client.
"""
