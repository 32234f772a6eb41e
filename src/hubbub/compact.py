"""Compaction: :class:`CompactionSummary` stands for elided history."""

from __future__ import annotations

from hubbub.events import CompactionSummary

__all__ = ["CompactionSummary"]
