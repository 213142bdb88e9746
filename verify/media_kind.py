"""What kind of media a file is, from its first bytes: the verifier refuses audio and
still images before it reports on their C2PA manifest as if they were a clip.

A signed WAV, MP3, JPEG or PNG carries a perfectly readable manifest, so "the manifest
is there but the video does not decode" (a truncated clip) must not be the answer for
them: they are not videos at all. Only the container's signature bytes are read.
"""

from __future__ import annotations

from pathlib import Path

_IMAGE_BRANDS = {b"heic", b"heix", b"heim", b"heis", b"hevc", b"mif1", b"msf1", b"avif", b"avis", b"jpeg", b"jxl "}
_AUDIO_BRANDS = {b"M4A ", b"M4B ", b"M4P ", b"F4A ", b"F4B "}


def media_kind(path: Path) -> str | None:
    """"audio", "image", "video" or None (unknown: let the decoder decide)."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(32)
    except OSError:
        return None
    if head[:4] == b"RIFF" and head[8:12] == b"WAVE":
        return "audio"
    if head[:4] == b"RIFF" and head[8:12] == b"AVI ":
        return "video"
    if head[:3] == b"ID3" or (len(head) > 1 and head[0] == 0xFF and head[1] & 0xE0 == 0xE0 and head[1] & 0x06):
        return "audio"  # MP3 (ID3 tag, or an MPEG audio frame header with a layer)
    if head[:4] in (b"fLaC", b"OggS") or head[:4] == b"FORM" and head[8:12] in (b"AIFF", b"AIFC"):
        return "audio"
    if head[:3] == b"\xff\xd8\xff" or head[:8] == b"\x89PNG\r\n\x1a\n" or head[:4] in (b"GIF8", b"II*\x00", b"MM\x00*"):
        return "image"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image"
    if head[4:8] == b"ftyp":
        brand = head[8:12]
        if brand in _IMAGE_BRANDS:
            return "image"
        if brand in _AUDIO_BRANDS:
            return "audio"
        return "video"
    return None
