"""``datacompact resources ...`` and ``datacompact catalog export`` (thin)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from datacompact.catalog._types import OpenType, ShareType
from datacompact.catalog.schemas import ResourceBase, UpdateFrequency
from datacompact.cli._context import TokenOption, actor_for, open_platform
from datacompact.cli._output import JsonFlag, emit, err_console, handled

resources_app = typer.Typer(help="数据资源目录 / the data resource catalog", no_args_is_help=True)
catalog_app = typer.Typer(help="目录导出 / catalog exports", no_args_is_help=True)

LIST_COLUMNS = ("id", "code", "name", "holder_name", "grade", "share_type", "open_type")


@contextmanager
def _progress(enabled: bool) -> Iterator[Progress | None]:
    if not enabled:
        yield None
        return
    columns = (
        TextColumn("[bold]接入 / ingesting[/]"),
        BarColumn(),
        TextColumn("{task.completed:,} 行 / rows"),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=err_console, transient=True) as progress:
        yield progress


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
    holder: Annotated[
        int | None, typer.Option("--holder", help="持有方（须为本方）/ holder, your own")
    ] = None,
    encoding: Annotated[str | None, typer.Option(help="强制编码 / force an encoding")] = None,
    sheet: Annotated[str | None, typer.Option(help="XLSX 工作表 / sheet")] = None,
    as_json: JsonFlag = False,
) -> None:
    """登记数据资源：接入、识别个人信息、建议分级、评估质量 / register a resource from a file."""
    from datacompact.catalog import resources as service
    from datacompact.errors import Forbidden

    with handled(as_json):
        platform = open_platform()
        with platform.db.read() as session:
            actor = actor_for(platform, session, token)
        if holder is not None and holder != actor.participant_id:
            raise Forbidden(
                "只能登记本方的数据资源 / you can register resources of your own participant only",
                details={"reason": "holder must be the acting participant"},
            )
        data = ResourceBase(
            name=name,
            name_en=name_en,
            description=description,
            tags=tag or [],
            themes=theme or [],
            update_frequency=frequency,
            share_type=share_type,
            open_type=open_type,
        )
        with _progress(not as_json) as bar:
            task = bar.add_task("ingest", total=None) if bar else None

            def advance(done: int, total: int | None) -> None:
                if bar is not None and task is not None:
                    bar.update(task, completed=done, total=total)

            recorded = service.register_resource(
                db=platform.db,
                home=platform.settings.home,
                actor=actor,
                data=data,
                file=file,
                encoding=encoding,
                sheet=sheet,
                progress=advance,
            )
        emit(
            {**recorded.value.model_dump(mode="json"), "log_index": recorded.log_index},
            as_json=as_json,
        )


@resources_app.command("show")
def show(resource_id: int, token: TokenOption = None, as_json: JsonFlag = False) -> None:
    """查看数据资源 / show one resource."""
    from datacompact.catalog import resources as service

    with handled(as_json):
        platform = open_platform()
        with platform.db.read() as session:
            actor = actor_for(platform, session, token)
            found = service.get_resource(session=session, actor=actor, resource_id=resource_id)
        emit(found.model_dump(mode="json"), as_json=as_json)


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
    from datacompact.catalog import resources as service

    with handled(as_json):
        platform = open_platform()
        with platform.db.read() as session:
            actor = actor_for(platform, session, token)
            rows = service.search_resources(
                session=session,
                actor=actor,
                query=query,
                holder_id=holder,
                share_type=share_type.value if share_type else None,
                theme=theme,
            )
        emit([r.model_dump(mode="json") for r in rows], as_json=as_json, columns=LIST_COLUMNS)


@catalog_app.command("export")
def export(
    fmt: Annotated[str, typer.Option("--format", help="turtle 或 jsonld")] = "turtle",
    token: TokenOption = None,
) -> None:
    """导出 DCAT-AP 3.0.1 目录 / export the catalog as DCAT-AP 3.0.1."""
    from datacompact.catalog.export import export_catalog
    from datacompact.errors import InvalidInput

    with handled():
        if fmt not in ("turtle", "jsonld"):
            raise InvalidInput("格式须为 turtle 或 jsonld / expected --format turtle or jsonld")
        platform = open_platform()
        with platform.db.read() as session:
            actor = actor_for(platform, session, token)
            text = export_catalog(
                session=session,
                actor=actor,
                base_url=platform.settings.public_base_url,
                fmt=fmt,
            )
        typer.echo(text)


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
    from datacompact.errors import InvalidInput

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
        platform = open_platform()
        home = platform.settings.home
        with platform.db.read() as session:
            actor = actor_for(platform, session, token)
            report = standardize.conformance_report(
                session=session, home=home, actor=actor, resource_id=resource_id, mappings=mappings
            )
        emit(
            report["elements"], as_json=as_json, columns=("column", "element", "values", "percent")
        )
        if derive:
            recorded = standardize.derive_standard_version(
                db=platform.db, home=home, actor=actor, resource_id=resource_id, mappings=mappings
            )
            emit(
                {"versions": recorded.value.versions, "log_index": recorded.log_index},
                as_json=as_json,
            )
