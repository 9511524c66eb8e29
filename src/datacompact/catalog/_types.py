"""The share and open types of a resource, kept free of RDF imports for fast start-up."""

from __future__ import annotations

from enum import StrEnum


class ShareType(StrEnum):
    """共享类型 of a government data resource (sharing between government units)."""

    UNCONDITIONAL = "unconditional"
    CONDITIONAL = "conditional"
    NOT_SHARED = "not_shared"


class OpenType(StrEnum):
    """开放类型 of a public data resource (opening to society)."""

    OPEN = "open"
    CONDITIONAL_OPEN = "conditional_open"
    NOT_OPEN = "not_open"
