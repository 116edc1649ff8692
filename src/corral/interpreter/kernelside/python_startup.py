"""Run by ipykernel at start (`--IPKernelApp.exec_files`): the display formats E2B adds.

E2B's template registers, in each Python kernel, a JSON representation for dicts and lists
(`Result.json`), a column dict for pandas DataFrames (`Result.data`, MIME `e2b/data`) and a
chart description for matplotlib figures (`Result.chart`, MIME `e2b/chart`, made by the
`e2b-charts` package when it is installed). None of this imports pandas or matplotlib: they
load only when the user's code imports them.

Everything happens inside a function that is deleted afterwards, because this file runs in
the user's namespace.
"""

from typing import Any


def _corral_startup() -> None:
    import json
    import sys

    from IPython import get_ipython
    from IPython.core.formatters import BaseFormatter
    from traitlets import ObjectName, Unicode

    shell = get_ipython()
    if shell is None:
        return
    formatters = shell.display_formatter.formatters

    def json_of(obj: Any) -> Any:
        try:
            return json.loads(json.dumps(obj))
        except (TypeError, ValueError):
            return None  # not representable as JSON: no `json` field

    formatters["application/json"].for_type(dict, json_of)
    formatters["application/json"].for_type(list, json_of)

    class DataFormatter(BaseFormatter):
        """Column dicts of pandas DataFrames (by instance: pandas 3 moved the class's
        `__module__`, so a type-by-name printer would miss it)."""

        format_type = Unicode("e2b/data")
        print_method = ObjectName("_repr_e2b_data_")
        _return_type = (dict, str)

        def __call__(self, obj: Any) -> Any:
            pandas = sys.modules.get("pandas")
            if pandas is not None and isinstance(obj, pandas.DataFrame):
                return dataframe_columns(obj)
            return super().__call__(obj)

    def dataframe_columns(frame: Any) -> Any:
        # Column name → values; NaN becomes null and timestamps ISO strings, as in E2B.
        try:
            return {
                str(c): json.loads(frame[c].to_json(orient="values", date_format="iso"))
                for c in frame.columns
            }
        except Exception:  # columns JSON cannot hold still show as text and HTML
            return None

    data = DataFormatter(parent=shell.display_formatter)
    formatters["e2b/data"] = data

    class ChartFormatter(BaseFormatter):
        """Describes matplotlib figures; a method, not a type printer, because matplotlib's
        inline backend removes every formatter's printer for `Figure` when pyplot loads."""

        format_type = Unicode("e2b/chart")
        print_method = ObjectName("_repr_e2b_chart_")
        _return_type = (dict, str)

        def __call__(self, obj: Any) -> Any:
            figure_module = sys.modules.get("matplotlib.figure")
            if figure_module is not None and isinstance(obj, figure_module.Figure):
                return figure_chart(obj)
            return super().__call__(obj)

    def figure_chart(figure: Any) -> Any:
        try:
            from e2b_charts import chart_figure_to_dict  # type: ignore[import-untyped,import-not-found,unused-ignore]
        except ImportError:
            return None
        try:
            return chart_figure_to_dict(figure) or None
        except Exception:  # a figure e2b-charts cannot describe still shows as an image
            return None

    chart = ChartFormatter(parent=shell.display_formatter)
    formatters["e2b/chart"] = chart


_corral_startup()
del _corral_startup
