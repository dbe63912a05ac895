"""Compliance: frameworks as data, check verdicts, posture per control."""
