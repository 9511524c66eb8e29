"""``datacompact anonymize``: k-anonymity / l-diversity / t-closeness on a CSV file.

The command is thin: it parses options, reads the CSV and the ARX hierarchy
files, calls :func:`datacompact.privacy.anonymize`, and writes the records and
the report. The privacy engine (numpy, pyarrow) is imported only when the
command runs, and OpenDP never, to keep CLI start-up fast.

``--out`` holds the transformed records with the suppressed records removed;
``--report`` (or ``--json`` on stdout) holds ``transformation`` (level per
quasi-identifier), ``suppressed``, ``information_loss``, the ``risk`` figures
and ``seconds``.
"""

from __future__ import annotations

import csv
import json
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, cast

import typer

from datacompact.cli._output import JsonFlag, emit, err_console, handled
from datacompact.errors import InvalidInput, MalformedInput

if TYPE_CHECKING:
    import pyarrow as pa  # type: ignore[import-untyped, unused-ignore]

    from datacompact.privacy import Hierarchy

privacy_app = typer.Typer(
    name="anonymize",
    help="匿名化 / anonymize microdata (k-anonymity, l-diversity, t-closeness)",
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _pairs(items: list[str], option: str) -> tuple[list[str], dict[str, Path]]:
    """Split ``COL`` / ``COL=FILE`` items into the column order and the files given."""
    names: list[str] = []
    files: dict[str, Path] = {}
    for item in items:
        name, eq, path = item.partition("=")
        if not name:
            raise InvalidInput(f"expected {option} COL or COL=FILE, got an empty column name")
        if name in names:
            raise InvalidInput(f"column {name!r} is given twice in {option}")
        names.append(name)
        if eq:
            files[name] = Path(path)
    return names, files


def _head_text(path: Path, encoding: str, size: int = 1 << 16) -> str:
    try:
        with path.open("rb") as handle:
            head = handle.read(size)
    except OSError as exc:
        raise InvalidInput(
            f"无法读取输入文件 / cannot read the input file {path}", details={"path": str(path)}
        ) from exc
    if len(head) == size and b"\n" in head:
        head = head[: head.rindex(b"\n")]
    return head.decode(encoding, errors="replace")


def read_csv_strings(path: Path, sep: str | None, encoding: str = "utf-8") -> pa.Table:
    """Read a CSV file with every column as text (values must match hierarchies verbatim).

    ``sep=None`` detects the separator from the first lines; ``encoding`` is
    the file's (UTF-8, UTF-8 with BOM, GBK or GB 18030).
    """
    import pyarrow as pa  # type: ignore[import-untyped, unused-ignore]
    import pyarrow.csv as pacsv  # type: ignore[import-untyped, unused-ignore]

    from datacompact.privacy.hierarchy import detect_separator

    if sep is None:
        sep = detect_separator(_head_text(path, encoding))
    if len(sep) != 1:
        raise InvalidInput("分隔符须为一个字符 / expected a one-character separator (--sep)")
    python_codec = "utf-8-sig" if encoding in ("utf-8", "utf-8-sig") else encoding
    try:
        with path.open(encoding=python_codec, newline="") as handle:
            header = next(csv.reader(handle, delimiter=sep), None)
    except OSError as exc:
        raise InvalidInput(
            f"无法读取输入文件 / cannot read the input file {path}", details={"path": str(path)}
        ) from exc
    except (UnicodeDecodeError, csv.Error) as exc:
        raise MalformedInput(
            f"输入文件不是 {encoding} 编码的 CSV / expected {encoding} CSV text in the input "
            "file; give --encoding if it is another one",
            details={"encoding": encoding},
        ) from exc
    if not header:
        raise MalformedInput("expected a header row in the input file, got an empty file")
    try:
        return pacsv.read_csv(
            path,
            read_options=pacsv.ReadOptions(
                encoding="utf8" if python_codec == "utf-8-sig" else encoding
            ),
            parse_options=pacsv.ParseOptions(delimiter=sep),
            convert_options=pacsv.ConvertOptions(
                column_types={name: pa.string() for name in header},
                strings_can_be_null=False,
                quoted_strings_can_be_null=False,
            ),
        )
    except (pa.ArrowInvalid, UnicodeDecodeError) as exc:
        raise MalformedInput(
            "expected rows with as many fields as the header in the input file"
        ) from exc


def _hierarchy(path: Path, sep: str | None, encoding: str | None, data_encoding: str) -> Hierarchy:
    """A hierarchy file read with its own encoding and separator (detected unless given).

    A file too short for detection to be sure (two rows of 男/女, say) is read in
    the data's encoding when it decodes in it.
    """
    from datacompact.ingest import text_encoding
    from datacompact.privacy import Hierarchy

    if not path.is_file():
        raise InvalidInput(
            f"层级文件不存在 / no hierarchy file at {path}", details={"path": str(path)}
        )
    try:
        codec = text_encoding(path, encoding)
    except MalformedInput:
        if encoding is not None:
            raise
        try:
            path.read_bytes().decode(data_encoding)
        except (OSError, UnicodeDecodeError):
            raise MalformedInput(
                f"无法识别层级文件编码 / cannot tell the encoding of the hierarchy file {path}: "
                "expected UTF-8, GBK or GB 18030; give --hierarchy-encoding",
                details={"file": str(path)},
            ) from None
        codec = data_encoding
    return Hierarchy.read(path, sep=sep, encoding=codec)


def _write_csv(table: pa.Table, path: Path, sep: str) -> None:
    import pyarrow.csv as pacsv  # type: ignore[import-untyped, unused-ignore]

    try:
        pacsv.write_csv(table, path, write_options=pacsv.WriteOptions(delimiter=sep))
    except OSError as exc:
        raise InvalidInput("cannot write the output file", details={"path": str(path)}) from exc


@privacy_app.command("anonymize")
def anonymize(
    input: Annotated[Path, typer.Option("--input", "-i", help="CSV 输入 / input CSV file")],
    qi: Annotated[
        list[str],
        typer.Option("--qi", help="准标识符 COL 或 COL=层级文件 / quasi-identifier, repeatable"),
    ],
    hierarchy: Annotated[
        list[str] | None,
        typer.Option("--hierarchy", help="COL=FILE: ARX 层级 / ARX hierarchy file, repeatable"),
    ] = None,
    sep: Annotated[
        str | None,
        typer.Option("--sep", help="输入分隔符，默认自动识别 / input field separator (detected)"),
    ] = None,
    encoding: Annotated[
        str | None,
        typer.Option(
            "--encoding",
            help="输入编码，默认自动识别 / input encoding: utf-8, gbk, gb18030 (detected)",
        ),
    ] = None,
    hierarchy_sep: Annotated[
        str | None,
        typer.Option(
            "--hierarchy-sep",
            help="层级文件分隔符，默认逐个识别 / hierarchy files' separator (detected per file)",
        ),
    ] = None,
    hierarchy_encoding: Annotated[
        str | None,
        typer.Option(
            "--hierarchy-encoding",
            help="层级文件编码，默认逐个识别 / hierarchy files' encoding (detected per file)",
        ),
    ] = None,
    k: Annotated[int | None, typer.Option("--k", min=1, help="k-匿名 / k-anonymity")] = None,
    l_value: Annotated[
        float | None, typer.Option("--l", "--l-diversity", help="l-多样性 / l-diversity")
    ] = None,
    l_variant: Annotated[
        str, typer.Option("--l-variant", help="distinct | entropy | recursive")
    ] = "distinct",
    c: Annotated[float, typer.Option("--c", help="recursive (c,l) 的 c")] = 2.0,
    t: Annotated[
        float | None, typer.Option("--t", "--t-closeness", help="t-接近 / t-closeness")
    ] = None,
    t_distance: Annotated[str, typer.Option("--t-distance", help="equal | hierarchical")] = "equal",
    sensitive: Annotated[
        str | None, typer.Option("--sensitive", help="敏感属性 / sensitive column")
    ] = None,
    sensitive_hierarchy: Annotated[
        Path | None, typer.Option("--sensitive-hierarchy", help="敏感属性层级 / for hierarchical t")
    ] = None,
    suppression: Annotated[
        float, typer.Option("--suppression", min=0.0, max=1.0, help="记录抑制上限 / limit")
    ] = 0.0,
    metric: Annotated[
        str, typer.Option("--metric", help="entropy | discernibility | precision | aecs")
    ] = "entropy",
    search: Annotated[str, typer.Option("--search", help="auto | optimal | heuristic")] = "auto",
    time_limit: Annotated[
        float | None, typer.Option("--time-limit", help="搜索时限（秒）/ search time limit")
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option("--out", "--output", "-o", help="输出 CSV（已删除被抑制记录）/ records"),
    ] = None,
    report: Annotated[Path | None, typer.Option("--report", help="JSON 报告 / report file")] = None,
    no_progress: Annotated[bool, typer.Option("--no-progress", help="不显示进度")] = False,
    as_json: JsonFlag = False,
) -> None:
    """匿名化 CSV / anonymize a CSV file with optimal full-domain generalization."""
    started = time.perf_counter()
    with handled(as_json):
        from datacompact.ingest import text_encoding
        from datacompact.privacy import anonymize as run
        from datacompact.privacy import build_models

        names, files = _pairs(qi, "--qi")
        for item in hierarchy or []:
            name, eq, path = item.partition("=")
            if not eq or not name:
                raise InvalidInput("expected --hierarchy COL=FILE")
            if name not in names:
                raise InvalidInput(f"--hierarchy names {name!r}, which is not a --qi column")
            files[name] = Path(path)
        missing = [name for name in names if name not in files]
        if missing:
            raise InvalidInput(
                f"no hierarchy for quasi-identifier {missing[0]!r} (use --qi COL=FILE)",
                details={"column": missing[0]},
            )
        if not input.is_file():
            raise InvalidInput(
                f"输入文件不存在 / no input file at {input}", details={"path": str(input)}
            )
        from datacompact.privacy.hierarchy import SEPARATORS, detect_separator

        input_encoding = text_encoding(input, encoding)
        head = _head_text(input, input_encoding)
        # A one-column file has no separator to find; any will do.
        single = not any(c in head for c in SEPARATORS)
        input_sep = sep or ("," if single else detect_separator(head))
        table = read_csv_strings(input, input_sep, input_encoding)
        hierarchies = {
            name: _hierarchy(files[name], hierarchy_sep, hierarchy_encoding, input_encoding)
            for name in names
        }
        models = build_models(
            k=k,
            l=l_value,
            # build_models checks both against their allowed values.
            l_variant=cast(Any, l_variant),
            c=c,
            t=t,
            t_distance=cast(Any, t_distance),
        )
        sens_h = (
            _hierarchy(sensitive_hierarchy, hierarchy_sep, hierarchy_encoding, input_encoding)
            if sensitive_hierarchy
            else None
        )
        kwargs: dict[str, Any] = {
            "hierarchies": hierarchies,
            "models": models,
            "sensitive": sensitive,
            "sensitive_hierarchy": sens_h,
            "suppression_limit": suppression,
            "metric": metric,
            "search": search,
            "time_limit": time_limit,
        }
        if no_progress or as_json or not sys.stderr.isatty():
            result = run(table, **kwargs)
        else:
            from rich.progress import Progress

            with Progress(console=err_console, transient=True) as bar:
                task = bar.add_task("搜索 / searching", total=None)

                def advance(done: int, total: int) -> None:
                    bar.update(task, completed=done, total=total)

                result = run(table, progress=advance, **kwargs)
        if out is not None:
            _write_csv(result.table, out, input_sep)
        data = result.report()
        data["seconds"] = time.perf_counter() - started
        data["input"] = str(input)
        data["encoding"] = input_encoding
        data["output"] = str(out) if out is not None else None
        if report is not None:
            try:
                report.write_text(json.dumps(data, ensure_ascii=False, indent=2), encoding="utf-8")
            except OSError as exc:
                raise InvalidInput("cannot write the report file") from exc
        summary = {key: data[key] for key in ("transformation", "suppressed", "information_loss")}
        summary["seconds"] = round(data["seconds"], 3)
        emit(data if as_json else summary, as_json=as_json, title="匿名化 / anonymized")


if __name__ == "__main__":
    privacy_app()
