"""Reports for the head of sales: HTML, Markdown, CSV and JSON of one sweep."""

from auditor.report.data import ReportOptions, report_data
from auditor.report.html import FORMATS, write_html_report, write_report

__all__ = ["FORMATS", "ReportOptions", "report_data", "write_html_report", "write_report"]
