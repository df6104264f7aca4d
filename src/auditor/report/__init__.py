"""Reports for the head of sales."""

from auditor.report.html import report_data, write_html_report

__all__ = ["report_data", "write_html_report"]
