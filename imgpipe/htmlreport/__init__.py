"""``imgpipe report``: a self-contained HTML page about one finished run, built from its output on disk.

    summary.json + results/ + errors/  ->  counts, charts, a sample grid (images, boxes, crops)  ->  report.html
"""

from __future__ import annotations

from imgpipe.htmlreport.build import ReportOptions, write_report

__all__ = ["ReportOptions", "write_report"]
