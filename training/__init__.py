"""Training: the shipped generator (``generator``) and detectors (``detector``), and the data
they are made from. Nothing the verifier or the labeler imports lives here; the shipped
weights and model cards are this package's outputs."""
