"""Report stage: the workbooks a business team reads, and the input template.

Public face: ``write_reports`` (result and resubmission workbooks of one file, streamed),
``write_results`` (the result workbook alone, for an unreadable file),
``TEMP_NAME_PATTERN`` (the names of its temporary files), ``RunInfo`` (what
the Synthèse sheet tells of the run), ``write_template`` and ``TemplateError``. Private
to the stage: ``workbooks`` (publication of both workbooks), ``results_book``
(Résultats + Anomalies), ``summary_sheet`` (Synthèse), ``resubmission_book``, ``layout``
(columns, colours, widths), ``publish`` (temporary files, atomic publication), the
streaming XLSX writer (``xlsx_stream``, ``xlsx_sheet``, ``xlsx_cells``) and ``template``.
"""

from pipeline.report.publish import TEMP_NAME_PATTERN
from pipeline.report.summary_sheet import RunInfo
from pipeline.report.template import TemplateError, write_template
from pipeline.report.workbooks import write_reports, write_results

__all__ = [
    "TEMP_NAME_PATTERN",
    "RunInfo",
    "TemplateError",
    "write_reports",
    "write_results",
    "write_template",
]
