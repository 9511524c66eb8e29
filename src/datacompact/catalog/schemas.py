"""Pydantic schemas of the catalog: what the API and CLI read and write, kept apart from the tables."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any, Self

from pydantic import BaseModel, Field, model_validator

from datacompact.catalog._types import OpenType, ShareType
from datacompact.schemas_base import MULTILINE, Strict


class UpdateFrequency(StrEnum):
    REALTIME = "realtime"
    HOURLY = "hourly"
    DAILY = "daily"
    WEEKLY = "weekly"
    MONTHLY = "monthly"
    QUARTERLY = "quarterly"
    YEARLY = "yearly"
    IRREGULAR = "irregular"


class GradeCode(StrEnum):
    GENERAL_1 = "general-1"
    GENERAL_2 = "general-2"
    GENERAL_3 = "general-3"
    GENERAL_4 = "general-4"
    IMPORTANT = "important"
    CORE = "core"


class ResourceBase(Strict):
    name: str = Field(min_length=1, max_length=200)
    name_en: str | None = Field(default=None, max_length=200)
    description: Annotated[str, MULTILINE] = Field(default="", max_length=4000)
    source_system: str | None = Field(default=None, max_length=200)
    themes: list[str] = Field(default_factory=list, max_length=20)
    tags: list[str] = Field(default_factory=list, max_length=50)
    update_frequency: UpdateFrequency = UpdateFrequency.IRREGULAR
    share_type: ShareType = ShareType.CONDITIONAL
    open_type: OpenType = OpenType.NOT_OPEN
    #: "Private to me": the registering participant's own data. Only it and the
    #: sandbox see it; it is never in the public catalog, never granted to
    #: another participant, and it is scanned and graded like any other.
    private: bool = False

    @model_validator(mode="after")
    def _private_is_not_open(self) -> Self:
        if self.private and self.open_type is not OpenType.NOT_OPEN:
            raise ValueError(
                "私有数据不能开放 / a resource private to its holder cannot be open: expected "
                "open_type not_open"
            )
        return self


class ResourceCreate(ResourceBase):
    """A registration. ``inbox_file`` names a file in the participant's inbox (API only)."""

    inbox_file: str | None = Field(default=None, max_length=255)
    encoding: str | None = Field(default=None, max_length=20)
    sheet: str | None = Field(default=None, max_length=100)


class VersionCreate(Strict):
    inbox_file: str = Field(min_length=1, max_length=255)
    encoding: str | None = Field(default=None, max_length=20)
    sheet: str | None = Field(default=None, max_length=100)
    confirm_removed_columns: bool = Field(
        default=False,
        description=(
            "确认删除已授权的列 / confirm a version that removes columns a grant covers; "
            "without it such a version is refused (409) with the columns and grants listed"
        ),
    )


class UploadPublic(BaseModel):
    """A file received into the caller's inbox, ready to register by ``name``."""

    name: str = Field(description="收件箱中的文件名 / the file's name in the inbox")
    size: int = Field(description="字节数 / its size in bytes")
    sha256: str = Field(description="SHA-256（十六进制）/ its SHA-256, hex")


class GradeDecisionIn(Strict):
    """Confirm the proposed grade, or override it (a reason is then required)."""

    decision: str = Field(pattern="^(confirm|override)$")
    grade: GradeCode | None = None
    reason: Annotated[str | None, MULTILINE] = Field(default=None, min_length=2, max_length=1000)


class ColumnEdit(Strict):
    name: str = Field(min_length=1, max_length=200)
    description: Annotated[str | None, MULTILINE] = Field(default=None, max_length=1000)
    unit: str | None = Field(default=None, max_length=50)
    code_list: dict[str, str] | None = None


class DictionaryEdit(Strict):
    columns: list[ColumnEdit] = Field(min_length=1, max_length=2048)


class VersionPublic(BaseModel):
    number: int
    rows: int
    bytes: int
    source_sha256: str
    source_format: str
    source_encoding: str | None
    columns: list[dict[str, Any]]
    pii: list[dict[str, Any]]
    quality: dict[str, Any]
    warnings: list[str]
    changes: dict[str, Any] | None = Field(
        default=None,
        description=(
            "与上一版本相比新增、删除、改变类型的列 / the columns added, removed and retyped "
            "against the version before; null for a first version"
        ),
    )
    created_at: datetime


class SearchResult(BaseModel):
    """Resources found, and when there are none, why (zh-CN / English)."""

    data: list[ResourcePublic]
    #: Set exactly when ``data`` is empty: no resource yet, the filters, or no hit.
    empty_reason: str | None = None


class ResourcePublic(BaseModel):
    id: int
    code: str
    holder_id: int
    holder_name: str
    name: str
    name_en: str | None
    description: str
    source_system: str | None
    themes: list[str]
    tags: list[str]
    update_frequency: str
    share_type: str
    open_type: str
    #: Private to its holder: only the holder sees it.
    private: bool = False
    category: str | None
    grade: str | None
    personal: bool
    sensitive_personal: bool
    sensitive_categories: list[str]
    grade_status: str
    grade_reasons: list[dict[str, Any]]
    versions: int
    quality_trend: list[dict[str, Any]] = Field(
        description="Overall quality score per version, oldest first."
    )
    latest: VersionPublic | None
    created_at: datetime


class MappingIn(Strict):
    """One column mapped to a data element of a standard (e.g. ``GB/T 2261.1-2003`` ``sex``)."""

    column: str = Field(min_length=1, max_length=200)
    standard: str = Field(min_length=1, max_length=100)
    element: str = Field(min_length=1, max_length=100)
    aliases: dict[str, str] = Field(default_factory=dict, max_length=1000)


class StandardizeIn(Strict):
    mappings: list[MappingIn] = Field(min_length=1, max_length=200)


class CodeIn(Strict):
    code: str = Field(min_length=1, max_length=50)
    label_zh: str = Field(min_length=1, max_length=100)
    label_en: str = Field(default="", max_length=100)
    aliases: list[str] = Field(default_factory=list, max_length=50)


class ElementIn(Strict):
    id: str = Field(min_length=1, max_length=100, pattern=r"^[a-z][a-z0-9_]*$")
    name_zh: str = Field(min_length=1, max_length=100)
    name_en: str = Field(default="", max_length=100)
    type: str = Field(pattern="^(code|string|date)$")
    format: str | None = Field(default=None, max_length=500)
    codes: list[CodeIn] = Field(default_factory=list, max_length=5000)
    personal: bool = False


class StandardCreate(Strict):
    """A data standard: its identifier (e.g. ``DB33/T 2088-2024``), titles and elements."""

    id: str = Field(min_length=1, max_length=100)
    title_zh: str = Field(min_length=1, max_length=200)
    title_en: str = Field(default="", max_length=200)
    elements: list[ElementIn] = Field(min_length=1, max_length=500)
