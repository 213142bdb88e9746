"""Procedural scenes: the caption grammar (colours, shapes, backgrounds, motions) and the
renderer that draws a clip for a caption. The generator's training data, the detector's
stand-in for generated video, and many tests' input; imports nothing else of kinoseal."""

from kinoseal.scenes.procedural import ClipSpec, ObjectSpec, make_spec, render_clip, sample_spec

__all__ = ["ClipSpec", "ObjectSpec", "make_spec", "render_clip", "sample_spec"]
