"""Procurement pages: projects and their lots, a lot's tender with its sealed bids, and the
forms a contractor and an officer use (bid, open, award).

Thin views over :mod:`datacompact.procurement` (the calls of the API's
``/projects``, ``/lots`` and ``/tenders`` routes). What a member sees of a
tender is the service's view for that member: a bid's price stays sealed to
everybody but its bidder until the bids are opened, and the page shows no
more than that view. The rules (who may bid, the deadline, the separation of
development and O&M) are the services'; a refusal comes back as a page.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from datacompact.console._forms import logged_index, object_id, parsed, posted
from datacompact.console._web import Console, Context, redirect, writing
from datacompact.delivery import contracts, deliverables
from datacompact.errors import InvalidInput, Unauthenticated
from datacompact.procurement import lots, projects, tenders
from datacompact.procurement.schemas import AwardIn, BidCreate, ExceptionCreate, TenderPublic
from datacompact.schemas_base import MAX_ID

#: The longest bid document typed into the page (the form's part limit is 64 KiB).
DOCUMENT_LIMIT = 60_000


def _signed_in(ctx: Context) -> None:
    if ctx.session is None:
        raise Unauthenticated("请先登录 / sign in first")


def projects_page(request: Request, ctx: Context, console: Console) -> Response:
    _signed_in(ctx)
    owner_text = request.query_params.get("owner", "")
    owner = None
    if owner_text:
        if not owner_text.isdigit() or not 1 <= int(owner_text) <= MAX_ID:
            raise InvalidInput(
                "参数 owner 无效 / invalid value for owner", details={"field": "owner"}
            )
        owner = int(owner_text)
    domain = request.query_params.get("domain") or None
    if domain is not None and len(domain) > 100:
        raise InvalidInput(
            "参数 domain 无效 / invalid value for domain", details={"field": "domain"}
        )
    with ctx.platform.db.read() as session:
        rows = projects.list_projects(session=session, actor=ctx.principal, owner_id=owner)
    if domain is not None:
        rows = [p for p in rows if p.domain == domain]
    return console.renderer.render(
        ctx, "procure/projects.html", rows=rows, owner=owner, domain=domain or ""
    )


def project_page(request: Request, ctx: Context, console: Console) -> Response:
    _signed_in(ctx)
    project_id = object_id(request, "project_id")
    actor = ctx.principal
    with ctx.platform.db.read() as session:
        project = projects.get_project(session=session, actor=actor, project_id=project_id)
        found = [lots.get_lot(session=session, actor=actor, lot_id=i) for i in project.lot_ids]
        signed = contracts.list_contracts(session=session, actor=actor, project_id=project_id)
        offered: dict[int, TenderPublic] = {
            lot.id: tenders.get_tender(session=session, actor=actor, tender_id=lot.tender_id)
            for lot in found
            if lot.tender_id is not None
        }
    return console.renderer.render(
        ctx,
        "procure/project.html",
        p=project,
        lots=found,
        tenders=offered,
        signed={c.lot_id: c for c in signed},
        me=actor.participant_id,
        logged=logged_index(request),
    )


def lot_page(request: Request, ctx: Context, console: Console) -> Response:
    """A lot is shown on its project's page: go there (after the same read check)."""
    _signed_in(ctx)
    lot_id = object_id(request, "lot_id")
    with ctx.platform.db.read() as session:
        lot = lots.get_lot(session=session, actor=ctx.principal, lot_id=lot_id)
    return redirect(f"/procure/projects/{lot.project_id}#lot-{lot.id}")


def _project_of(ctx: Context, tender_id: int) -> int:
    with ctx.platform.db.read() as session:
        tender = tenders.get_tender(session=session, actor=ctx.principal, tender_id=tender_id)
        return lots.get_lot(session=session, actor=ctx.principal, lot_id=tender.lot_id).project_id


def submit_bid(request: Request, ctx: Context, console: Console) -> Response:
    form = posted(request, ctx)
    tender_id = object_id(request, "tender_id")
    document = form.get("document", "")
    if not document.strip() or len(document) > DOCUMENT_LIMIT:
        raise InvalidInput(
            "请填写投标文件（不超过 60000 字）/ enter the bid document (at most 60,000 characters)",
            details={"field": "document"},
        )
    # The price is validated by the API's schema (MONEY); the document is the typed text.
    body = parsed(BidCreate, {"price": form.get("price", ""), "document": "x"})
    project_id = _project_of(ctx, tender_id)
    with writing(ctx) as (session, actor):
        recorded = tenders.submit_bid(
            session=session,
            actor=actor,
            secret=ctx.platform.secret,
            tender_id=tender_id,
            price=body.price,
            document=document.encode("utf-8"),
        )
    return redirect(f"/procure/projects/{project_id}?logged={recorded.log_index}")


def open_bids(request: Request, ctx: Context, console: Console) -> Response:
    posted(request, ctx)
    tender_id = object_id(request, "tender_id")
    project_id = _project_of(ctx, tender_id)
    with writing(ctx) as (session, actor):
        recorded = tenders.open_bids(
            session=session, actor=actor, secret=ctx.platform.secret, tender_id=tender_id
        )
    return redirect(f"/procure/projects/{project_id}?logged={recorded.log_index}")


def award(request: Request, ctx: Context, console: Console) -> Response:
    form = posted(request, ctx)
    tender_id = object_id(request, "tender_id")
    chosen = form.get("bid_id") or None
    body = parsed(AwardIn, {"bid_id": chosen})
    project_id = _project_of(ctx, tender_id)
    with writing(ctx) as (session, actor):
        recorded = tenders.award_tender(
            session=session, actor=actor, tender_id=tender_id, bid_id=body.bid_id
        )
    return redirect(f"/procure/projects/{project_id}?logged={recorded.log_index}")


def shortlist_page(request: Request, ctx: Context, console: Console) -> Response:
    """The task-matching shortlist of a lot: ranked enterprises with reasons, and who is out."""
    _signed_in(ctx)
    lot_id = object_id(request, "lot_id")
    with ctx.platform.db.read() as session:
        lot = lots.get_lot(session=session, actor=ctx.principal, lot_id=lot_id)
        ranking = lots.match_lot(session=session, actor=ctx.principal, lot_id=lot_id)
    return console.renderer.render(ctx, "procure/shortlist.html", lot=lot, ranking=ranking)


def grant_exception(request: Request, ctx: Context, console: Console) -> Response:
    """The regulator's exception to a procurement rule for one supplier on one lot."""
    form = posted(request, ctx)
    lot_id = object_id(request, "lot_id")
    body = parsed(
        ExceptionCreate,
        {
            "supplier_id": form.get("supplier_id", ""),
            "rule": form.get("rule", ""),
            "reason": form.get("reason"),
        },
    )
    with writing(ctx) as (session, actor):
        recorded = lots.grant_exception(
            session=session,
            actor=actor,
            lot_id=lot_id,
            supplier_id=body.supplier_id,
            rule=body.rule,
            reason=body.reason,
        )
        project_id = lots.get_lot(session=session, actor=actor, lot_id=lot_id).project_id
    return redirect(f"/procure/projects/{project_id}?logged={recorded.log_index}")


def contract_page(request: Request, ctx: Context, console: Console) -> Response:
    """A contract: KPI targets against what was measured, milestones, SLA reports, the
    handover package, and the deliverables with their escrow state (metadata only)."""
    _signed_in(ctx)
    contract_id = object_id(request, "contract_id")
    with ctx.platform.db.read() as session:
        found = contracts.get_contract(
            session=session, actor=ctx.principal, contract_id=contract_id
        )
        kept = deliverables.list_deliverables(
            session=session, actor=ctx.principal, contract_id=contract_id
        )
    return console.renderer.render(ctx, "procure/contract.html", c=found, kept=kept)
