"""The local review UI: read-only pages over an archive's git history (``flowvault ui``)."""
