"""Readers for the retail feeds ki2fast ingests, one package per venue:

- ``ki2fast.feeds.schwab``: the Schwab streamer (level-one and book captures, credentials,
  the live client and decoder);
- ``ki2fast.feeds.thetadata``: the ThetaData terminal (REST snapshots, the stream);
- ``ki2fast.feeds.hftalert``: HFTAlert Burst Monitor files;

and what they share: tails that follow growing files and journals (``ki2fast.feeds.tail``)
and the capture journal live clients append to (``ki2fast.feeds.journal``)."""

from __future__ import annotations

__all__ = ["hftalert", "journal", "schwab", "schwab_token", "tail", "thetadata"]

from ki2fast.feeds import hftalert, journal, schwab, schwab_token, tail, thetadata
