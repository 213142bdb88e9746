"""A perceptual video fingerprint (``fingerprint.core``): what the provenance registry keeps beside
the watermark payload, so that a found mark can be checked against the pixels it was made for."""

from kinoseal.fingerprint.core import (ALG, Fingerprint, FingerprintBuilder, FingerprintMatch, frame_hashes,
                                       match)

__all__ = ["ALG", "Fingerprint", "FingerprintBuilder", "FingerprintMatch", "frame_hashes", "match"]
