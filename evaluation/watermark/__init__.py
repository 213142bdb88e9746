"""The watermark suite: signal and adversarial attacks, peers behind one interface, the
harness that runs them over clips and writes the JSON + Markdown results."""
