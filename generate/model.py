"""What the rest of kinoseal may ask of a video model: ``describe``, ``plan``, ``supports_edit``.

Frames come out only through ``generate.run``, which hands them to the Labeler; a model's
own frame iterator stays private (tests/test_generate.py checks that no public path returns
unlabeled frames)."""

from __future__ import annotations

from typing import Protocol, runtime_checkable


@runtime_checkable
class VideoModel(Protocol):
    supports_edit: bool  # accepts init frames (video to video), not only a prompt

    def describe(self) -> dict:
        """Name, version and defaults (fps, steps, sizes) for reports and the C2PA claim."""
        ...

    def plan(self, *, seconds: float, fps: int | None, height: int | None = None, width: int | None = None) -> dict:
        """What a request will actually produce: num_frames, fps, height, width, notes."""
        ...


__all__ = ["VideoModel"]
