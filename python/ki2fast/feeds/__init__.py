"""Readers for the retail feeds ki2fast ingests: Schwab level-one captures and HFTAlert Burst
Monitor files, and tails that follow growing files and journals (``ki2fast.feeds.tail``)."""

from __future__ import annotations

__all__ = ["hftalert", "journal", "schwab", "tail"]

from ki2fast.feeds import hftalert, journal, schwab, tail
