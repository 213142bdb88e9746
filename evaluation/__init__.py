"""Evaluation harnesses: the watermark robustness and forgery suite against peer watermarks.
Never imported by the verifier or the labeler (tests/test_import_graph.py); run from
``kinoseal bench watermark`` and the scripts under ``bench/``."""
