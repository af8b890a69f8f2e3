"""Readers for the retail feeds ki2fast ingests: Schwab level-one captures and HFTAlert Burst
Monitor files, tails that follow growing files and journals (``ki2fast.feeds.tail``), the
capture journal live clients append to (``ki2fast.feeds.journal``), Schwab credentials
(``ki2fast.feeds.schwab_token``) and the ThetaData terminal client
(``ki2fast.feeds.thetadata``)."""

from __future__ import annotations

__all__ = ["hftalert", "journal", "schwab", "schwab_token", "tail", "thetadata"]

from ki2fast.feeds import hftalert, journal, schwab, schwab_token, tail, thetadata
