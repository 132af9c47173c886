"""Responsible by default: consent on record, an invisible watermark in every frame, signed C2PA
provenance on every file, and a hash-chained audit log. See docs/provenance.md."""
