"""hedge.report — human-readable reports (tables and charts) of released results."""

from hedge.report.segments import write_segment_report

__all__ = ["write_segment_report"]
