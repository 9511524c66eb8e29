"""Monthly statements per operator and per user, and ``audit billing``.

An operator issues its statement of a month once the month has ended
(:func:`issue_statement`): the meter's lines for its items
(:func:`datacompact.value.metering.meter`), stored with their total, and one
``billing.statement_issued`` event that commits to them with the SHA-256 of
their canonical text (:func:`lines_digest`). Until then the month is open
and its uses keep accruing; a ceiling or price changed in an open month
applies to the uses logged after the change only.

A user sees its own lines of a statement; the operator and the regulators
see all of them (:func:`get_statement`, :func:`statement_csv`).

:func:`audit_billing` recomputes every line of every statement of a month from
the log and the price versions on it, and returns the first line whose
stored figures differ from the recomputed ones, or confirms them all.
"""

from __future__ import annotations

import csv
import hashlib
import io
from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import datetime
from decimal import Decimal
from functools import lru_cache
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from datacompact.clock import utcnow
from datacompact.errors import Conflict, InvalidTransition, NotFound
from datacompact.events import EventType, Recorded, record_event
from datacompact.permissions import (
    Actions,
    ParticipantResource,
    PartyResource,
    Principal,
    authorize,
)
from datacompact.registry.participants import approved_of_kind
from datacompact.store.bulk import insert_rows
from datacompact.store.models import Event
from datacompact.store.value_models import Statement, StatementLine
from datacompact.value import charging, money
from datacompact.value.metering import Line, meter, parse_period
from datacompact.value.schemas import BillingAudit, LinePublic, Mismatch, StatementPublic

__all__ = [
    "audit_billing",
    "get_statement",
    "issue_statement",
    "lines_digest",
    "list_statements",
    "statement_csv",
    "statements_of",
]

#: Who may audit every statement: the regulators and the auditors.
AUDITORS = ("regulator", "auditor")
FIELDS = (
    "line_no",
    "event_seq",
    "user_id",
    "grant_id",
    "item_id",
    "version",
    "quantity",
    "unit_price",
    "amount",
    "free",
)
_BATCH = 10_000


def _row(line_no: int, line: Line) -> tuple[str, ...]:
    """A line as the text it is stored and hashed as."""
    return (
        str(line_no),
        str(line.event_seq),
        str(line.user_id),
        "" if line.grant_id is None else str(line.grant_id),
        str(line.item_id),
        str(line.version),
        money.text(line.quantity),
        _price_text(line.unit_price),
        _amount_text(line.amount),
        "1" if line.free else "0",
    )


# Cached: a statement repeats a few prices and amounts many times. Only values of
# one exponent share a cache: Decimal("8.00") == Decimal("8.0000") as a key.
@lru_cache(maxsize=4096)
def _price_text(value: Decimal) -> str:
    return money.text(value.quantize(money.PRICE_QUANTUM))


@lru_cache(maxsize=4096)
def _amount_text(value: Decimal) -> str:
    return money.text(value.quantize(money.FEN))


def lines_digest(rows: Iterable[Sequence[str]]) -> str:
    """SHA-256 of the lines as CSV text, one line per row, ``\\n`` endings."""
    digest = hashlib.sha256()
    for row in rows:
        digest.update((",".join(row) + "\n").encode())
    return digest.hexdigest()


def issue_statement(
    *, session: Session, actor: Principal, period: str, now: datetime | None = None
) -> Recorded[StatementPublic]:
    """Issue the acting operator's statement of a month that has ended."""
    operator = actor.participant_id
    authorize(actor=actor, action=Actions.BILLING_METER, resource=ParticipantResource(operator))
    assert operator is not None  # noqa: S101 - authorize() refused anonymous actors
    month = parse_period(period)
    if month.end > (now or utcnow()):
        raise InvalidTransition(
            f"账期 {month.text} 尚未结束 / the month {month.text} is still open: its statement "
            "is issued once it has ended",
            details={"period": month.text},
        )
    if session.scalar(
        select(Statement.id).where(
            Statement.operator_id == operator, Statement.period == month.text
        )
    ):
        raise Conflict(
            f"{month.text} 账单已出具 / the statement of {month.text} is already issued",
            details={"period": month.text},
        )
    lines = [line for line in meter(session, month)[0] if line.operator_id == operator]
    # A generator: a month's lines as text would take several times their own memory.
    rows = (_row(n, line) for n, line in enumerate(lines, start=1))
    total = money.total(line.amount for line in lines)
    by_user: dict[int, Decimal] = defaultdict(lambda: Decimal("0.00"))
    for line in lines:
        by_user[line.user_id] += line.amount
    statement = Statement(
        operator_id=operator,
        period=month.text,
        total=money.text(total),
        line_count=len(lines),
        lines_sha256=lines_digest(rows),
    )
    session.add(statement)
    session.flush()
    table = StatementLine.__table__
    columns = ["statement_id", *FIELDS]
    for start in range(0, len(lines), _BATCH):
        insert_rows(
            session,
            table,
            columns,
            [
                (
                    statement.id,
                    n,
                    line.event_seq,
                    line.user_id,
                    line.grant_id,
                    line.item_id,
                    line.version,
                    money.text(line.quantity),
                    money.text(line.unit_price),
                    money.text(line.amount),
                    line.free,
                )
                for n, line in enumerate(lines[start : start + _BATCH], start=start + 1)
            ],
        )
    totals = {str(user): money.text(value) for user, value in sorted(by_user.items())}
    event = record_event(
        session,
        actor=actor,
        type=EventType.STATEMENT_ISSUED,
        object_type="statement",
        object_id=statement.id,
        payload={
            "statement_id": statement.id,
            "operator_id": operator,
            "period": month.text,
            "total": statement.total,
            "lines": statement.line_count,
            "lines_sha256": statement.lines_sha256,
            "totals_by_user": totals,
        },
    )
    statement.log_index = event.seq
    return Recorded(_view(statement, totals, []), event.seq)


def _load(session: Session, operator_id: int, period: str) -> Statement:
    month = parse_period(period)
    statement = session.scalar(
        select(Statement).where(
            Statement.operator_id == operator_id, Statement.period == month.text
        )
    )
    if statement is None:
        raise NotFound(
            f"账单不存在 / no statement of {month.text} for operator {operator_id}",
            details={"kind": "statement"},
        )
    return statement


def _lines(session: Session, statement_id: int, user_id: int | None) -> list[LinePublic]:
    query = select(StatementLine).where(StatementLine.statement_id == statement_id)
    if user_id is not None:
        query = query.where(StatementLine.user_id == user_id)
    return [
        LinePublic(
            line_no=row.line_no,
            event_seq=row.event_seq,
            user_id=row.user_id,
            grant_id=row.grant_id,
            item_id=row.item_id,
            version=row.version,
            quantity=row.quantity,
            unit_price=row.unit_price,
            amount=row.amount,
            free=row.free,
        )
        for row in session.scalars(query.order_by(StatementLine.line_no))
    ]


def _totals(session: Session, statement: Statement) -> dict[str, str]:
    if statement.log_index is None:
        return {}
    payload = session.scalar(select(Event.payload).where(Event.seq == statement.log_index))
    return dict(payload.get("totals_by_user", {})) if payload else {}


def get_statement(
    *,
    session: Session,
    actor: Principal,
    operator_id: int,
    period: str,
    user_id: int | None = None,
) -> StatementPublic:
    """A statement with its lines: a user's own only, unless the actor sees them all.

    The operator and the regulators see every line, or one user's with
    ``user_id``; a user sees its own lines and its own total.
    """
    statement = _load(session, operator_id, period)
    totals = _totals(session, statement)
    users = frozenset(int(u) for u in totals)
    decision_resource = PartyResource(participant_id=operator_id, parties=users)
    authorize(actor=actor, action=Actions.BILLING_READ, resource=decision_resource)
    sees_all = actor.participant_id == operator_id or actor.participant_kind == "regulator"
    if not sees_all:
        user_id = actor.participant_id
    view = _view(statement, totals if sees_all else {}, [])
    if user_id is not None:
        view.user_id = user_id
        view.total = totals.get(str(user_id), "0.00")
        view.totals_by_user = {str(user_id): view.total}
    view.lines = _lines(session, statement.id, user_id)
    view.line_count = len(view.lines)
    return view


def list_statements(
    *, session: Session, actor: Principal, operator_id: int
) -> list[StatementPublic]:
    """An operator's statements, newest month first, without their lines."""
    authorize(
        actor=actor,
        action=Actions.BILLING_READ,
        resource=PartyResource(participant_id=operator_id),
    )
    return statements_of(session, operator_id)


def statements_of(session: Session, operator_id: int) -> list[StatementPublic]:
    """An operator's statements without lines, newest first; callers authorize."""
    rows = session.scalars(
        select(Statement)
        .where(Statement.operator_id == operator_id)
        .order_by(Statement.period.desc())
    )
    return [_view(s, _totals(session, s), []) for s in rows]


def statement_csv(statement: StatementPublic) -> str:
    """The statement's lines as CSV (RFC 4180), with a header and a closing total row."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(FIELDS)
    for line in statement.lines:
        writer.writerow(
            [
                line.line_no,
                line.event_seq,
                line.user_id,
                "" if line.grant_id is None else line.grant_id,
                line.item_id,
                line.version,
                line.quantity,
                line.unit_price,
                line.amount,
                "1" if line.free else "0",
            ]
        )
    writer.writerow(["total", "", "", "", "", "", "", "", statement.total, ""])
    return out.getvalue()


def _view(statement: Statement, totals: dict[str, str], lines: list[LinePublic]) -> StatementPublic:
    return StatementPublic(
        id=statement.id,
        operator_id=statement.operator_id,
        period=statement.period,
        total=statement.total,
        line_count=statement.line_count,
        lines_sha256=statement.lines_sha256,
        issued_at=statement.issued_at,
        log_index=statement.log_index,
        totals_by_user=totals,
        lines=lines,
    )


def audit_billing(*, session: Session, actor: Principal, period: str) -> BillingAudit:
    """Recompute every statement of ``period`` from the log; name the first line that differs."""
    authorize(
        actor=actor,
        action=Actions.BILLING_AUDIT,
        resource=PartyResource(
            participant_id=None, reviewers=frozenset(approved_of_kind(session, AUDITORS))
        ),
    )
    month = parse_period(period)
    lines, replay = meter(session, month)
    by_operator: dict[int, list[Line]] = defaultdict(list)
    for line in lines:
        by_operator[line.operator_id].append(line)
    statements = list(
        session.scalars(
            select(Statement).where(Statement.period == month.text).order_by(Statement.operator_id)
        )
    )
    checked = 0
    grand = Decimal("0.00")
    result = BillingAudit(
        period=month.text, ok=True, statements=len(statements), lines=0, total="0.00"
    )
    for statement in statements:
        expected = by_operator.pop(statement.operator_id, [])
        mismatch = _check(session, statement, expected)
        checked += len(expected)
        if mismatch is not None:
            result.ok = False
            result.first_mismatch = mismatch
            break
        grand += Decimal(statement.total)
    result.lines = checked
    result.total = money.text(grand)
    result.unbilled_lines = sum(len(rest) for rest in by_operator.values())
    result.findings = charging.findings(replay)
    return result


def _mismatch(
    statement: Statement, line_no: int | None, field: str, want: str, got: str
) -> Mismatch:
    where = f"line {line_no}" if line_no is not None else "the statement"
    return Mismatch(
        statement_id=statement.id,
        operator_id=statement.operator_id,
        line_no=line_no,
        field=field,
        expected=want,
        recorded=got,
        message=f"{statement.period} 账单 {statement.id} 与日志不符 / statement {statement.id} "
        f"of {statement.period}: {where} has {field} {got}, the log gives {want}",
    )


def _check(session: Session, statement: Statement, expected: list[Line]) -> Mismatch | None:
    stored = session.connection().execute(
        select(
            StatementLine.line_no,
            StatementLine.event_seq,
            StatementLine.user_id,
            StatementLine.grant_id,
            StatementLine.item_id,
            StatementLine.version,
            StatementLine.quantity,
            StatementLine.unit_price,
            StatementLine.amount,
            StatementLine.free,
        )
        .where(StatementLine.statement_id == statement.id)
        .order_by(StatementLine.line_no)
        .execution_options(yield_per=20_000)
    )
    rows = (row for part in stored.partitions() for row in part)
    try:
        return _compare(session, statement, expected, rows)
    finally:
        # A server-side cursor left half read would outlive the transaction on PostgreSQL.
        stored.close()


def _compare(
    session: Session, statement: Statement, expected: list[Line], stored: Iterable[Any]
) -> Mismatch | None:
    digest = hashlib.sha256()
    total = Decimal("0.00")
    count = 0
    wanted = iter(expected)
    for row in stored:
        count += 1
        line = next(wanted, None)
        if line is None:
            return _mismatch(statement, count, "line", "no such line", "a line")
        want = _row(count, line)
        # Compared as typed values first; text only for the message of a mismatch.
        typed = (count, line.event_seq, line.user_id, line.grant_id, line.item_id, line.version)
        if tuple(row[:6]) != typed or tuple(row[6:9]) != want[6:9] or bool(row[9]) != line.free:
            got = (
                *("" if v is None else str(v) for v in row[:6]),
                *row[6:9],
                "1" if row[9] else "0",
            )
            field = next(f for f, x, y in zip(FIELDS, want, got, strict=True) if x != y)
            index = FIELDS.index(field)
            mismatch = _mismatch(statement, count, field, want[index], got[index])
            if line.free and field in ("unit_price", "amount"):
                mismatch.message += " (公益用途不得收费 / a charge on a free purpose)"
            return mismatch
        digest.update((",".join(want) + "\n").encode())
        total += line.amount
    if count < len(expected):
        return _mismatch(statement, count + 1, "line", "a line", "no such line")
    if money.text(total) != statement.total:
        return _mismatch(statement, None, "total", money.text(total), statement.total)
    logged = session.scalar(select(Event.payload).where(Event.seq == statement.log_index))
    for field, want_value in (
        ("lines_sha256", digest.hexdigest()),
        ("total", statement.total),
    ):
        recorded_value = statement.lines_sha256 if field == "lines_sha256" else statement.total
        if recorded_value != want_value:
            return _mismatch(statement, None, field, want_value, recorded_value)
        if logged is None or logged.get(field) != want_value:
            got_text = "nothing" if logged is None else str(logged.get(field))
            return _mismatch(statement, None, f"logged {field}", want_value, got_text)
    return None
