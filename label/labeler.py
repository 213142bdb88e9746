"""Labeling: the only way generated frames leave kinoseal.

Every frame goes through the watermark embedder, the H.264 encoder and the
C2PA signer, in that order (the marked frames are also hashed into the content
fingerprint that the provenance registry keeps beside the payload), into a temporary file that is renamed onto the
target only when all three succeeded. The generator pipelines hand frames to a
``Labeler``; they have no writer of their own.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

from kinoseal.credentials.home import ensure_dev_pki, trust_store
from kinoseal.credentials.identity import SigningIdentity
from kinoseal.credentials.manifests import COMPOSITE_TRAINED, TRAINED, generated_manifest
from kinoseal.credentials.reading import read_manifest_store
from kinoseal.credentials.provenance import SqliteRegistry, default_registry
from kinoseal.credentials.signing import sign_mp4
from kinoseal.credentials.trust import TrustStore
from kinoseal.credentials.tsa import with_tsa
from kinoseal import __version__
from kinoseal.config import Settings
from kinoseal.errors import InputError
from kinoseal.fingerprint import FingerprintBuilder
from kinoseal.fingerprint.views import ViewsBuilder
from kinoseal.mediaio.ahead import read_ahead, write_behind
from kinoseal.mediaio.atomic import scratch_path
from kinoseal.mediaio.colour import rgb_to_i420
from kinoseal.mediaio.probe import probe
from kinoseal.mediaio.reader import iter_frames
from kinoseal.mediaio.writer import H264Writer, sha256_file
from kinoseal.watermark import get_method
from kinoseal.watermark.keyring import KeyRing, load_keyring

Progress = Callable[[int, int], None]
# Seconds between the labeled frames the registry's fingerprint hashes: every frame (a pan over fine
# detail changes the hash within a frame or two, and the verifier samples any frame).
REFERENCE_GAP_S = 0.0
SOFTWARE = {"name": "kinoseal", "version": __version__}


@dataclass(frozen=True)
class GeneratorInfo:
    """What made the frames; recorded in the manifest (``softwareAgent`` + parameters)."""

    name: str
    version: str = "unknown"
    params: dict[str, Any] = field(default_factory=dict)

    def as_manifest(self) -> dict[str, Any]:
        return {"name": self.name, "version": self.version, **self.params}


@dataclass(frozen=True)
class LabelResult:
    path: str
    payload_id: str
    key_id: str
    watermark_method: str
    frames: int
    width: int
    height: int
    fps: float
    source_type: str
    manifest_bytes: int

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class Labeler:
    """Watermark + encode + sign. Build once per identity/key ring, reuse per clip."""

    def __init__(
        self,
        settings: Settings,
        identity: SigningIdentity,
        keyring: KeyRing,
        trust: TrustStore,
        registry: SqliteRegistry | None = None,
    ) -> None:
        self.settings = settings
        self.identity = identity
        self.keyring = keyring
        self.trust = trust
        self.method = get_method(settings.watermark_method)
        # Where payload id -> manifest is recorded for soft-binding resolution.
        self.registry = registry if registry is not None else default_registry(settings.home)

    @classmethod
    def from_settings(
        cls, settings: Settings, *, chain: Path | None = None, key: Path | None = None
    ) -> "Labeler":
        pki = ensure_dev_pki(settings)
        identity = SigningIdentity.from_files(chain, key) if chain and key else pki.identity("generator")
        identity = with_tsa(identity, settings.tsa_url)
        keyring = load_keyring(settings.keys_dir / "watermark")
        return cls(settings, identity, keyring, trust_store(settings))

    # -- the one path every labeled output takes ---------------------------------
    def _write(
        self,
        planes: Iterable[tuple[np.ndarray, np.ndarray, np.ndarray, float | None]],
        dst: Path,
        *,
        width: int,
        height: int,
        fps: Fraction,
        generator: GeneratorInfo,
        source_type: str,
        audio_from: Path | None = None,
        parent: Path | None = None,
        edit_description: str | None = None,
        progress: Progress | None = None,
        total: int = 0,
        overlap: str = "none",
    ) -> LabelResult:
        """``overlap`` (``mediaio.ahead``): "read_ahead" decodes and marks on a worker thread while the
        encoder works here, for frames read from a file; "write_behind" makes and marks the frames here
        while a worker encodes the previous ones, for a caller's own iterator (a generator model's
        state may belong to its thread); "none" does all of it here, in turn."""
        dst = Path(dst)
        payload_id = secrets.randbits(64)
        key = self.keyring.active
        embedder = self.method.embedder(key, payload_id)
        # Only a clip made by the model whole gets a fingerprint: an AI edit of real footage looks like
        # its real parent, which must not match it ("likely AI-generated" on the original recording).
        views = ViewsBuilder() if source_type == TRAINED else None
        fingerprint = FingerprintBuilder(min_gap_s=REFERENCE_GAP_S, views=views) if source_type == TRAINED else None
        step = 1.0 / float(fps)
        frames = 0
        with scratch_path(dst, suffix=".unsigned.mp4") as unsigned:
            with H264Writer(
                unsigned, width=width, height=height, fps=fps, crf=self.settings.crf,
                preset=self.settings.preset, audio_from=audio_from, name=str(dst),
            ) as writer:
                def marked_frames():
                    for i, (y, u, v, t) in enumerate(planes):
                        y = embedder.embed_luma(y)
                        if fingerprint is not None:
                            fingerprint.add(y, u, v, i * step if t is None else t)
                        yield y, u, v, t

                def encode(frame) -> None:
                    y, u, v, t = frame
                    writer.write_i420(y, u, v, time_s=t)

                if overlap == "write_behind":
                    def made():
                        for n, frame in enumerate(marked_frames(), 1):
                            yield frame
                            if progress:  # on the caller's thread, as frames are handed over
                                progress(n, total)

                    frames = write_behind(made(), encode)
                else:
                    marked = marked_frames()
                    for frame in read_ahead(marked) if overlap == "read_ahead" else marked:
                        encode(frame)
                        frames += 1
                        if progress:
                            progress(frames, total)
            manifest = generated_manifest(
                title=dst.name,
                software=SOFTWARE,
                generator=generator.as_manifest(),
                watermark={
                    "method": self.method.name,
                    "version": self.method.version,
                    "key_id": key.key_id,
                    "payload_id": payload_id,
                    "payload_bits": self.method.payload_bits,
                },
                source_type=source_type,
                duration_ms=int(1000 * frames / float(fps)),
                parent_label="parent" if parent is not None else None,
                edit_description=edit_description,
            )
            manifest_bytes = sign_mp4(unsigned, dst, manifest, self.identity, trust=self.trust, parent=parent)
        store = read_manifest_store(dst, self.trust) or {"manifest": manifest}
        self.registry.record(
            payload_id=f"{payload_id:016x}", key_id=key.key_id, method=self.method.name, manifest=store,
            manifest_label=store.get("active_manifest"), file_sha256=sha256_file(dst), title=dst.name,
            manifest_c2pa=bytes(manifest_bytes),
            fingerprint=fingerprint.build().to_bytes() if fingerprint is not None else None,
            views=views.build().to_bytes() if views is not None else None,
        )
        return LabelResult(
            path=str(dst), payload_id=f"{payload_id:016x}", key_id=key.key_id, watermark_method=self.method.name,
            frames=frames, width=width, height=height, fps=float(fps), source_type=source_type,
            manifest_bytes=len(manifest_bytes),
        )

    # -- public entry points -------------------------------------------------------
    def label_file(
        self,
        src: Path,
        dst: Path,
        generator: GeneratorInfo,
        *,
        source_type: str = TRAINED,
        progress: Progress | None = None,
    ) -> LabelResult:
        """Label a video made by an AI model (any source): watermark every frame,
        re-encode H.264, carry the audio over, sign."""
        src, dst = Path(src), Path(dst)
        if src.resolve() == dst.resolve():
            raise InputError("the output must be a different file from the input")
        info = probe(src, self.settings.limits)
        _check_size(info.width, info.height)
        w, h = info.width + info.width % 2, info.height + info.height % 2
        planes = ((f.planes[0], f.planes[1], f.planes[2], f.time) for f in iter_frames(src, self.settings.limits))
        return self._write(
            planes, dst, width=w, height=h, fps=info.fps, generator=generator, source_type=source_type,
            audio_from=src if info.has_audio else None, progress=progress, total=info.frame_count,
            overlap="read_ahead" if self._overlap() else "none",
        )

    def _overlap(self) -> bool:
        """Make and mark frames on one thread while the encoder works on another (not for a clip kept on one thread)."""
        return not self.settings.limits.one_thread

    def label_frames(
        self,
        frames: Iterable[np.ndarray],
        dst: Path,
        *,
        fps: float | Fraction,
        generator: GeneratorInfo,
        parent: Path | None = None,
        edit_description: str | None = None,
        progress: Progress | None = None,
        total: int = 0,
    ) -> LabelResult:
        """Label RGB frames (uint8 HxWx3) streamed from a generator. With ``parent``
        the clip is an AI edit of that file (compositeWithTrainedAlgorithmicMedia,
        parent manifest kept as a parentOf ingredient)."""
        iterator = iter(frames)
        try:
            first = next(iterator)
        except StopIteration:
            raise InputError("the generator produced no frames") from None
        h, w = first.shape[:2]
        _check_size(w, h)
        if h % 2 or w % 2:
            raise InputError(f"generated frames must have even dimensions, got {w}x{h}")

        def planes():
            for rgb in _chain(first, iterator):
                if rgb.shape != first.shape or rgb.dtype != np.uint8:
                    raise InputError("all generated frames must be uint8 RGB arrays of the same size")
                y, u, v = rgb_to_i420(rgb)
                yield y, u, v, None

        return self._write(
            planes(), dst, width=w, height=h, fps=Fraction(fps).limit_denominator(1001 * 1000),
            generator=generator, source_type=COMPOSITE_TRAINED if parent is not None else TRAINED,
            parent=parent, edit_description=edit_description, progress=progress, total=total,
            overlap="write_behind" if self._overlap() else "none",
        )


def _check_size(width: int, height: int) -> None:
    if min(width, height) < 16:
        raise InputError(f"{width}x{height} frames are too small to label (at least 16 pixels on each side)")


def _chain(first: np.ndarray, rest: Iterable[np.ndarray]):
    yield first
    yield from rest
