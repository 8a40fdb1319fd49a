"""Parsing helpers shared by dataset modules: fast numeric text readers and label tables."""
from __future__ import annotations

from pathlib import Path

from ..errors import FormatError
from ..format import Label
from .._lazy import lazy

np = lazy("numpy", globals(), "np")  # numpy, pyarrow and polars load when a converter runs
pl = lazy("polars", globals(), "pl")


def read_numeric(path: Path, *, sep: str = " ", ncols: int, skip_rows: int = 0,
                 source: bytes | None = None) -> np.ndarray:
    """A headerless numeric text file as a float64 (rows, ncols) array, parsed by polars.

    Literal ``NaN`` tokens are kept as NaN (they mark missing samples in the originals); a short
    row, an empty field, a non-numeric token or an infinite value (``inf``, which no sensor
    reports) is an error naming the file and 1-based line, so a damaged or re-saved file is
    never silently half-read. ``source`` passes bytes already in
    memory (a member read from a zip) instead of reading ``path``.
    """
    schema = {f"c{i}": pl.Float64 for i in range(ncols)}
    data = source if source is not None else path
    try:
        df = pl.read_csv(data, separator=sep, has_header=False, skip_rows=skip_rows, schema=schema,
                         truncate_ragged_lines=False)
    except pl.exceptions.PolarsError as exc:
        raise FormatError(f"{path}: {_first_bad_line(data, sep, ncols, skip_rows)} (expected {ncols} "
                          f"{sep!r}-separated numbers per line)") from exc
    if any(col.null_count() for col in df.get_columns()):  # cheap: null counts are kept per column
        nulls = df.select(pl.any_horizontal(pl.all().is_null()).arg_true()).to_series()
        line = int(nulls[0]) + skip_rows + 1
        raise FormatError(f"{path}: line {line}: fewer than {ncols} values or an empty field")
    arr = df.to_numpy()
    inf = np.isinf(arr)
    if inf.any():
        row, col = (int(i[0]) for i in np.nonzero(inf))
        raise FormatError(f"{path}: line {row + skip_rows + 1}: value {col + 1} is {arr[row, col]:g}, not a finite "
                          f"number (no sensor reports infinity; a missing sample is written NaN)")
    return arr


def _first_bad_line(data: Path | bytes, sep: str, ncols: int, skip_rows: int) -> str:
    text = data if isinstance(data, bytes) else Path(data).read_bytes()
    for i, line in enumerate(text.decode("latin-1").splitlines()[skip_rows:], start=skip_rows + 1):
        fields = line.strip().split(sep) if sep != " " else line.split()
        if len(fields) != ncols:
            return f"line {i}: {len(fields)} values, expected {ncols}"
        for f in fields:
            try:
                float(f)
            except ValueError:
                return f"line {i}: {f!r} is not a number"
    return "unparseable content"


def read_lines(path: Path) -> pl.Series:
    """Every line of a text file as a string Series (no CSV interpretation), read by polars.

    For record formats polars cannot split by itself (WISDM's ``;``-terminated records); the
    caller parses the lines with vectorised string expressions.
    """
    try:
        df = pl.read_csv(path, has_header=False, separator="\x1f", quote_char=None, schema={"line": pl.Utf8})
    except pl.exceptions.NoDataError:
        return pl.Series("line", [], dtype=pl.Utf8)
    return df["line"]


def labels_from(table: list[tuple[int, str, str]], ignore: set[int] | None = None) -> list[Label]:
    """Labels from (id, original name, natural-language text) rows."""
    ignore = ignore or set()
    return [Label(id=i, name=n, text=t, ignore=i in ignore) for i, n, t in table]
