"""Readers for the retail feeds ki2fast ingests (HFTAlert Burst Monitor files so far)."""

from __future__ import annotations

__all__ = ["hftalert"]

from ki2fast.feeds import hftalert
