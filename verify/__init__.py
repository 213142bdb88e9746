"""The verifier: manifest + watermark + classifier -> a verdict with its evidence."""

from verify.report import ClassifierEvidence, Report, Verdict, WatermarkEvidence
from verify.rules import Decision, decide
from verify.verifier import Verifier

__all__ = ["ClassifierEvidence", "Decision", "Report", "Verdict", "Verifier", "WatermarkEvidence", "decide"]
