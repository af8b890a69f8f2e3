"""Readers for the retail feeds ki2fast ingests: Schwab level-one captures and HFTAlert Burst
Monitor files."""

from __future__ import annotations

__all__ = ["hftalert", "schwab"]

from ki2fast.feeds import hftalert, schwab
