"""A tiny Markdown table formatter (pandas' ``to_markdown`` needs ``tabulate``)."""

from __future__ import annotations

import numbers

import numpy as np
from pandas.api.types import is_bool_dtype, is_numeric_dtype

__all__ = ["markdown_table"]


def _cell(value, floatfmt):
    if isinstance(value, (bool, np.bool_)):
        return str(bool(value))
    if isinstance(value, numbers.Integral):
        return str(int(value))
    if isinstance(value, numbers.Real):
        value = float(value)
        if np.isnan(value):
            return ""
        return format(value, floatfmt)
    text = "" if value is None else str(value)
    return text.replace("|", "\\|").replace("\n", " ")


def markdown_table(frame, *, index=True, floatfmt=".3f"):
    """Format a DataFrame as a GitHub-flavoured Markdown table.

    Parameters
    ----------
    frame : pandas.DataFrame
        Table to format.
    index : bool, default=True
        Write the index as the first column.
    floatfmt : str, default=".3f"
        Format specification applied to float cells.

    Returns
    -------
    table : str
        Markdown text, one line per row, numeric columns right-aligned.

    Examples
    --------
    >>> import pandas as pd
    >>> from sersk.evaluation import markdown_table
    >>> print(markdown_table(pd.DataFrame({"uar": [0.5, 0.25]}), index=False))
    | uar |
    | ---: |
    | 0.500 |
    | 0.250 |
    """
    columns = [str(c) for c in frame.columns]
    numeric = [
        is_numeric_dtype(frame[c].dtype) and not is_bool_dtype(frame[c].dtype)
        for c in frame.columns
    ]
    rows = [[_cell(v, floatfmt) for v in row] for row in frame.itertuples(index=False)]
    if index:
        name = frame.index.name if frame.index.name is not None else ""
        columns = [str(name), *columns]
        numeric = [False, *numeric]
        rows = [
            [_cell(i, floatfmt), *row] for i, row in zip(frame.index, rows, strict=True)
        ]
    header = "| " + " | ".join(columns) + " |"
    rule = "| " + " | ".join("---:" if n else "---" for n in numeric) + " |"
    body = ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join([header, rule, *body])
