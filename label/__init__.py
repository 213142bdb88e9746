"""The write side of provenance, the twin of ``verify``: a generated clip gets its two labels
(watermark -> H.264 encode -> signed C2PA manifest, ``Labeler``), an authentic recording gets a
signed capture manifest as it is (``sign_capture``). Nothing else in kinoseal writes a label."""

from kinoseal.label.capture import sign_capture
from kinoseal.label.labeler import SOFTWARE, GeneratorInfo, LabelResult, Labeler, Progress

__all__ = ["SOFTWARE", "GeneratorInfo", "LabelResult", "Labeler", "Progress", "sign_capture"]
