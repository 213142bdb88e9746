"""What tests/ and bench/ share: sample clips and synthetic frames (``clips``), a real
``kinoseal serve`` and Redis for over-the-wire runs (``service``), and MP4 box surgery for
tamper cases (``mp4box``). Not installed: it runs from a checkout, as tests and benchmarks do."""
