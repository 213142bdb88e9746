"""The verifier: manifest + watermark + classifier -> a verdict with its evidence."""

from kinoseal.verify.report import ClassifierEvidence, Report, Verdict, WatermarkEvidence
from kinoseal.verify.rules import Decision, decide
from kinoseal.verify.verifier import Verifier

__all__ = ["ClassifierEvidence", "Decision", "Report", "Verdict", "Verifier", "WatermarkEvidence", "decide"]
