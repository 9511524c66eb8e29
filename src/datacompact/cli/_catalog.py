"""``datacompact resources ...`` and ``datacompact catalog export`` (thin)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from datacompact.catalog import OpenType, ShareType
from datacompact.catalog.schemas import ResourceBase, UpdateFrequency
from datacompact.cli._context import Acting, TokenOption, run
from datacompact.cli._output import (
    JsonFlag,
    console,
    emit,
    err_console,
    handled,
    listed,
    recorded,
    shown,
)
from datacompact.cli._remote import ApiClient, JsonObject
from datacompact.errors import InvalidInput

resources_app = typer.Typer(help="数据资源目录 / the data resource catalog", no_args_is_help=True)
catalog_app = typer.Typer(help="目录导出 / catalog exports", no_args_is_help=True)

LIST_COLUMNS = ("id", "code", "name", "holder_name", "grade", "share_type", "open_type")


@contextmanager
def _progress(enabled: bool) -> Iterator[Callable[[int, int | None], None] | None]:
    """A Rich progress bar on stderr for an ingestion; yields the service's progress callback."""
    if not enabled:
        yield None
        return
    columns = (
        TextColumn("[bold]接入 / ingesting[/]"),
        BarColumn(),
        TextColumn("{task.completed:,} 行 / rows"),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=err_console, transient=True) as bar:
        task = bar.add_task("ingest", total=None)

        def advance(done: int, total: int | None) -> None:
            bar.update(task, completed=done, total=total)

        yield advance


@resources_app.command("register")
def register(
    file: Annotated[Path, typer.Option("--file", help="数据文件 / data file")],
    name: Annotated[str, typer.Option("--name", help="资源名称 / resource name")],
    token: TokenOption = None,
    name_en: Annotated[str | None, typer.Option(help="英文名称 / English name")] = None,
    description: Annotated[str, typer.Option(help="描述 / description")] = "",
    tag: Annotated[list[str] | None, typer.Option("--tag", help="标签 / tag")] = None,
    theme: Annotated[list[str] | None, typer.Option("--theme", help="主题 / theme")] = None,
    frequency: Annotated[
        UpdateFrequency, typer.Option(help="更新频率")
    ] = UpdateFrequency.IRREGULAR,
    share_type: Annotated[ShareType, typer.Option(help="共享类型")] = ShareType.CONDITIONAL,
    open_type: Annotated[OpenType, typer.Option(help="开放类型")] = OpenType.NOT_OPEN,
    private: Annotated[
        bool,
        typer.Option(
            "--private",
            help="仅本方可见的自有数据，可在联合申请中与他方数据连接 / private to you: only you "
            "see it, and you may join it with another holder's data in a joint application",
        ),
    ] = False,
    holder: Annotated[
        int | None, typer.Option("--holder", help="持有方（须为本方）/ holder, your own")
    ] = None,
    encoding: Annotated[str | None, typer.Option(help="强制编码 / force an encoding")] = None,
    sheet: Annotated[str | None, typer.Option(help="XLSX 工作表 / sheet")] = None,
    as_json: JsonFlag = False,
) -> None:
    """登记数据资源：接入、识别个人信息、建议分级、评估质量 / register a resource from a file."""

    def described() -> ResourceBase:
        return ResourceBase(
            name=name,
            name_en=name_en,
            description=description,
            tags=tag or [],
            themes=theme or [],
            update_frequency=frequency,
            share_type=share_type,
            open_type=open_type,
            private=private,
        )

    def action(on: Acting) -> Any:
        from datacompact.catalog import resources as service

        data = described()
        # What a killed ingestion left is removed before this one starts.
        service.sweep_orphans(db=on.platform.db, home=on.platform.settings.home)
        with _progress(not as_json) as advance:
            return service.register_resource(
                db=on.platform.db,
                home=on.platform.settings.home,
                actor=on.actor,
                data=data,
                file=file,
                encoding=encoding,
                sheet=sheet,
                progress=advance,
                recheck=on.recheck,
                holder_id=holder,
                limits=on.platform.settings.ingest_limits,
            )

    def remote(api: ApiClient) -> Any:
        # Over the API: the file is streamed into the participant's inbox, then registered.
        data = described().model_dump(mode="json")
        if holder is not None:
            raise InvalidInput(
                "远程登记的持有方即令牌所属参与方，不接受 --holder / remotely, the holder is the "
                "token's participant: leave out --holder",
                details={"option": "--holder"},
            )
        stored = api.upload(file, progress=not as_json)
        body = {**data, "inbox_file": stored["name"], "encoding": encoding, "sheet": sheet}
        return api.change("POST", "/resources", body)

    run(action, who=token, as_json=as_json, render=registered, transaction="own", remote=remote)


def registered(result: Any, as_json: bool) -> None:
    """A registration: the whole record with ``--json``, otherwise a summary a person reads."""
    if as_json:
        recorded(result, as_json=True)
        return
    for line in register_summary(result.value.model_dump(mode="json"), result.log_index):
        console.print(line, highlight=False, soft_wrap=True)


def register_summary(resource: dict[str, Any], log_index: int) -> list[str]:
    """Code, grade and its reasons, personal columns, quality and warnings, one fact a line."""
    latest = resource.get("latest") or {}
    lines = [
        f"已登记 / registered: {resource['name']} (id {resource['id']}, "
        f"holder {resource['holder_name']} #{resource['holder_id']})",
        f"  登记编码 / code: {resource['code']}",
        f"  建议分级 / grade: {resource['grade'] or '-'} ({resource['grade_status']})",
    ]
    lines += [
        f"    - {r.get('text') or r.get('rule')}" + (f" [{r['column']}]" if r.get("column") else "")
        for r in resource.get("grade_reasons") or []
    ]
    pii = latest.get("pii") or []
    by_column: dict[str, list[str]] = {}
    for finding in pii:
        share = finding.get("row_share") or finding.get("share") or 0
        by_column.setdefault(finding["column"], []).append(f"{finding['type']} {share:.0%}")
    lines.append(f"  个人信息列 / personal columns: {len(by_column) or '无 / none'}")
    lines += [f"    - {column}: {', '.join(kinds)}" for column, kinds in by_column.items()]
    quality = latest.get("quality") or {}
    scores = quality.get("scores") or {}
    shown = ", ".join(f"{k} {v:.0f}" for k, v in scores.items() if v is not None)
    overall = quality.get("overall")
    lines.append(
        f"  质量 / quality: {'-' if overall is None else f'{overall:.0f}'}/100"
        + (f" ({shown})" if shown else "")
        + f"; {latest.get('rows', 0):,} 行 / rows"
    )
    warnings = latest.get("warnings") or []
    lines.append(f"  警告 / warnings: {len(warnings) or '无 / none'}")
    lines += [f"    - {w}" for w in warnings]
    lines.append(f"  回执 / receipt: log index {log_index}; --json for the full record")
    return lines


@resources_app.command("show")
def show(resource_id: int, token: TokenOption = None, as_json: JsonFlag = False) -> None:
    """查看数据资源 / show one resource."""

    def action(on: Acting) -> Any:
        from datacompact.catalog import resources as service

        found = service.get_resource(session=on.session, actor=on.actor, resource_id=resource_id)
        return found.model_dump(mode="json")

    run(
        action,
        who=token,
        as_json=as_json,
        render=shown,
        remote=lambda api: api.data(f"/resources/{resource_id}"),
    )


@resources_app.command("search")
def search(
    query: Annotated[str, typer.Argument(help="检索词 / query")] = "",
    token: TokenOption = None,
    holder: Annotated[int | None, typer.Option(help="持有方 / holder id")] = None,
    share_type: Annotated[ShareType | None, typer.Option(help="共享类型")] = None,
    theme: Annotated[str | None, typer.Option(help="主题 / theme")] = None,
    as_json: JsonFlag = False,
) -> None:
    """检索数据目录（中文分词）/ search the catalog (Chinese segmentation)."""

    def action(on: Acting) -> Any:
        from datacompact.catalog import resources as service

        return service.search_catalog(
            session=on.session,
            actor=on.actor,
            query=query,
            holder_id=holder,
            share_type=share_type.value if share_type else None,
            theme=theme,
        )

    def render(found: Any, as_json: bool) -> None:
        rows = [r.model_dump(mode="json") for r in found.data]
        if as_json or rows:
            emit(rows, as_json=as_json, columns=LIST_COLUMNS)
        else:
            console.print(
                f"没有找到 / nothing found: {found.empty_reason}", highlight=False, soft_wrap=True
            )

    def remote(api: ApiClient) -> Any:
        found, answer = api.page(
            "/resources",
            q=query,
            holder_id=holder,
            share_type=share_type.value if share_type else None,
            theme=theme,
        )
        return JsonObject({"data": found, "empty_reason": answer.get("empty_reason")})

    run(action, who=token, as_json=as_json, render=render, remote=remote)


@catalog_app.command("export")
def export(
    fmt: Annotated[str, typer.Option("--format", help="turtle 或 jsonld")] = "turtle",
    token: TokenOption = None,
) -> None:
    """导出 DCAT-AP 3.0.1 目录 / export the catalog as DCAT-AP 3.0.1."""
    from datacompact.catalog.export import export_catalog

    with handled():
        if fmt not in ("turtle", "jsonld"):
            raise InvalidInput("格式须为 turtle 或 jsonld / expected --format turtle or jsonld")
        run(
            lambda on: export_catalog(
                session=on.session,
                actor=on.actor,
                base_url=on.platform.settings.public_base_url,
                fmt=fmt,
            ),
            who=token,
            as_json=False,
            render=lambda text, _: typer.echo(text),
            remote=lambda api: (
                api.text("/catalog.ttl", "text/turtle")
                if fmt == "turtle"
                else api.text("/catalog.jsonld", "application/ld+json")
            ),
        )


@resources_app.command("conform")
def conform(
    resource_id: int,
    mapping: Annotated[
        list[str],
        typer.Option(
            "--map", help="列=标准:数据元，如 性别=GB/T 2261.1-2003:sex / COLUMN=STANDARD:ELEMENT"
        ),
    ],
    derive: Annotated[
        bool, typer.Option("--derive", help="按标准派生新版本 / also derive a standardized version")
    ] = False,
    token: TokenOption = None,
    as_json: JsonFlag = False,
) -> None:
    """数据标准符合性报告（可派生标准化版本）/ conformance to data standards."""
    from datacompact.catalog import standardize
    from datacompact.catalog.schemas import MappingIn
    from datacompact.policy.grants import shape_review

    with handled(as_json):
        mappings = []
        for item in mapping:
            column, _, target = item.partition("=")
            standard, _, element = target.rpartition(":")
            if not column or not standard or not element:
                raise InvalidInput(
                    "映射格式应为 列=标准:数据元 / expected --map COLUMN=STANDARD:ELEMENT",
                    details={"option": "--map"},
                )
            mappings.append(MappingIn(column=column, standard=standard, element=element))
        body = {"mappings": [m.model_dump(mode="json") for m in mappings]}
        run(
            lambda on: standardize.conformance_report(
                session=on.session,
                home=on.platform.settings.home,
                actor=on.actor,
                resource_id=resource_id,
                mappings=mappings,
            )["elements"],
            who=token,
            as_json=as_json,
            render=listed("column", "element", "values", "percent", "by_code", "by_label"),
            remote=lambda api: api.send("POST", f"/resources/{resource_id}/conformance", body)[
                "elements"
            ],
        )
        if derive:
            run(
                lambda on: standardize.derive_standard_version(
                    db=on.platform.db,
                    home=on.platform.settings.home,
                    actor=on.actor,
                    resource_id=resource_id,
                    mappings=mappings,
                    review=shape_review(confirm_removed_columns=False),
                ),
                who=token,
                as_json=as_json,
                render=lambda done, as_json: emit(
                    {"versions": done.value.versions, "log_index": done.log_index}, as_json=as_json
                ),
                transaction="own",
                remote=lambda api: api.change(
                    "POST", f"/resources/{resource_id}/standardized", body
                ),
            )


@resources_app.command("version")
def version(
    resource_id: int,
    file: Annotated[Path, typer.Option("--file", help="新版本数据文件 / data file")],
    token: TokenOption = None,
    encoding: Annotated[str | None, typer.Option(help="强制编码 / force an encoding")] = None,
    sheet: Annotated[str | None, typer.Option(help="XLSX 工作表 / sheet")] = None,
    confirm_removed_columns: Annotated[
        bool,
        typer.Option(
            "--confirm-removed-columns",
            help="确认删除已授权的列，相关授权转为待复核 / confirm a version that removes "
            "granted columns; their grants then need review",
        ),
    ] = False,
    as_json: JsonFlag = False,
) -> None:
    """接入新版本（旧版本保留）/ ingest a new immutable version."""

    def action(on: Acting) -> Any:
        from datacompact.catalog import resources as service
        from datacompact.policy.grants import shape_review

        service.sweep_orphans(db=on.platform.db, home=on.platform.settings.home)
        with _progress(not as_json) as advance:
            return service.ingest_version(
                db=on.platform.db,
                home=on.platform.settings.home,
                actor=on.actor,
                resource_id=resource_id,
                file=file,
                encoding=encoding,
                sheet=sheet,
                progress=advance,
                recheck=on.recheck,
                limits=on.platform.settings.ingest_limits,
                review=shape_review(confirm_removed_columns=confirm_removed_columns),
            )

    def remote(api: ApiClient) -> Any:
        stored = api.upload(file, progress=not as_json)
        body = {
            "inbox_file": stored["name"],
            "encoding": encoding,
            "sheet": sheet,
            "confirm_removed_columns": confirm_removed_columns,
        }
        return api.change("POST", f"/resources/{resource_id}/versions", body)

    run(action, who=token, as_json=as_json, render=recorded, transaction="own", remote=remote)


@resources_app.command("grade")
def grade(
    resource_id: int,
    override: Annotated[
        str | None, typer.Option(help="调整为该分级，如 important / set this grade instead")
    ] = None,
    reason: Annotated[str | None, typer.Option(help="调整理由（记入日志）/ reason, logged")] = None,
    token: TokenOption = None,
    as_json: JsonFlag = False,
) -> None:
    """确认建议分级，或以理由调整 / confirm the proposed grade, or override it with a reason."""
    from datacompact.catalog import resources as service
    from datacompact.catalog.schemas import GradeDecisionIn

    with handled(as_json):
        decision = GradeDecisionIn.model_validate(
            {"decision": "override", "grade": override, "reason": reason}
            if override
            else {"decision": "confirm"}
        )
        run(
            lambda on: service.decide_grade(
                session=on.session, actor=on.actor, resource_id=resource_id, decision=decision
            ),
            who=token,
            as_json=as_json,
            render=lambda done, as_json: emit(
                {
                    "grade": done.value.grade,
                    "grade_status": done.value.grade_status,
                    "log_index": done.log_index,
                },
                as_json=as_json,
            ),
            transaction="write",
            remote=lambda api: api.change(
                "POST", f"/resources/{resource_id}/grade", decision.model_dump(mode="json")
            ),
        )


@resources_app.command("describe")
def describe(
    resource_id: int,
    column: Annotated[str, typer.Option(help="列名 / column")],
    description: Annotated[str | None, typer.Option(help="说明 / description")] = None,
    unit: Annotated[str | None, typer.Option(help="单位 / unit")] = None,
    token: TokenOption = None,
    as_json: JsonFlag = False,
) -> None:
    """编辑数据字典中的一列 / edit one column of the data dictionary."""
    from datacompact.catalog.schemas import ColumnEdit

    with handled(as_json):
        edit = ColumnEdit(name=column, description=description, unit=unit)

        def action(on: Acting) -> Any:
            from datacompact.catalog import resources as service

            done = service.update_dictionary(
                session=on.session, actor=on.actor, resource_id=resource_id, edits=[edit]
            )
            latest = done.value.latest
            return [c for c in (latest.columns if latest else []) if c["name"] == column]

        def remote(api: ApiClient) -> Any:
            body = {"columns": [edit.model_dump(mode="json", exclude_none=True)]}
            done = api.change("PATCH", f"/resources/{resource_id}/dictionary", body)
            latest = done.value.get("latest")
            return [c for c in (latest["columns"] if latest else []) if c["name"] == column]

        run(
            action,
            who=token,
            as_json=as_json,
            render=listed("name", "type", "description", "unit"),
            transaction="write",
            remote=remote,
        )


standards_app = typer.Typer(help="数据标准 / data standards", no_args_is_help=True)


@standards_app.command("list")
def list_standards(token: TokenOption = None, as_json: JsonFlag = False) -> None:
    """列出内置与已登记的数据标准 / list built-in and registered standards."""
    from datacompact.catalog import standards_registry

    run(
        lambda on: standards_registry.list_standards(session=on.session, actor=on.actor),
        who=token,
        as_json=as_json,
        render=listed("id", "title_zh", "builtin"),
        remote=lambda api: api.data("/standards"),
    )


@standards_app.command("register")
def register_standard(
    file: Annotated[Path, typer.Option("--file", help="标准定义 JSON / standard JSON file")],
    token: TokenOption = None,
    as_json: JsonFlag = False,
) -> None:
    """登记数据标准（数据元与代码表）/ register a data standard from a JSON file."""
    import json

    from pydantic import ValidationError

    from datacompact.catalog import standards_registry
    from datacompact.catalog.schemas import StandardCreate
    from datacompact.errors import MalformedInput

    with handled(as_json):
        try:
            data = StandardCreate.model_validate(json.loads(file.read_text(encoding="utf-8")))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError, ValidationError) as exc:
            raise MalformedInput(
                "标准文件无效 / expected a UTF-8 JSON standard definition, got one that is not "
                f"({type(exc).__name__})",
                details={"file": str(file)},
            ) from exc
        run(
            lambda on: standards_registry.register_standard(
                session=on.session, actor=on.actor, data=data
            ),
            who=token,
            as_json=as_json,
            render=lambda done, as_json: emit(
                {**done.value, "log_index": done.log_index}, as_json=as_json
            ),
            transaction="write",
            remote=lambda api: api.change("POST", "/standards", data.model_dump(mode="json")),
        )
