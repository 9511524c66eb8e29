"""Who may do what: the one place where permission is decided.

``authorize(actor=..., action=..., resource=...)`` returns a :class:`Decision`
or raises :class:`~datacompact.errors.Forbidden` carrying the decision's
reason, so the API and the console can explain a denial. Nothing else in the
code base compares roles or participant ids to decide access.

An :class:`Action` names the roles that may take it and the *scope* that
relates the actor to the resource:

==============  ==============================================================
``anyone``      no credential needed (self-registration of a participant)
``platform``    any authenticated member of an approved participant
``own``         the resource belongs to the actor's participant
``self``        the resource is the actor's own (token), or ``own`` + admin
``approver``    the actor's participant approves registrations under the
                governance mode, and the resource is another participant
``party``       the actor's participant is a party to the resource (applicant,
                holder, reviewer); regulators see every party object
``reviewer``    the actor's participant is one of the resource's reviewers
``published``   anyone, without a credential, when the resource is published
                (:attr:`Resource.published`); any authenticated member otherwise
==============  ==============================================================

What is published is decided here too. A catalog entry is published when its
share type or open type lets it be known beyond its holder (shared with other
government units, conditionally or not, or opened to society, conditionally or
not); a participant's public profile once the participant is approved; a
cooperation project, with its lots, tenders, awards, contracts and open
deliverables, unless it is classified (涉密); a listing always, its rows being
decided one by one. The public listings (``/public/projects``, the OCDS
release package, open deliverables) show everyone the same, signed in or not:
they ask :func:`published_to_anyone`, never decide for the caller. An anonymous caller asking
for an object that is not published is told it does not exist (``404``), not
that it is forbidden, so the answer does not reveal that it exists.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from datacompact.config import GovernanceMode
from datacompact.errors import Forbidden, NotFound
from datacompact.governance import rules_for


class Role(StrEnum):
    ADMIN = "admin"
    DATA_STEWARD = "data_steward"
    ANALYST = "analyst"
    REVIEWER = "reviewer"
    AUDITOR = "auditor"


ALL_ROLES = frozenset(Role)


class Scope(StrEnum):
    ANYONE = "anyone"
    PLATFORM = "platform"
    OWN = "own"
    SELF = "self"
    APPROVER = "approver"
    PARTY = "party"
    REVIEWER = "reviewer"
    PUBLISHED = "published"


#: Share types whose catalog entries anyone may read (the entry, never the data).
PUBLISHED_SHARE_TYPES = frozenset({"unconditional", "conditional"})
#: Open types whose catalog entries anyone may read.
PUBLISHED_OPEN_TYPES = frozenset({"open", "conditional_open"})
#: Participant statuses whose public profile anyone may read.
PUBLISHED_PARTICIPANT_STATUSES = frozenset({"approved"})


@dataclass(frozen=True, slots=True)
class Principal:
    """The acting party of a service call.

    ``roles`` are the effective roles: the member's roles narrowed by the
    scopes of the token that authenticated the request.
    """

    label: str
    governance: GovernanceMode
    member_id: int | None = None
    participant_id: int | None = None
    participant_kind: str | None = None
    roles: frozenset[Role] = field(default_factory=frozenset)

    @classmethod
    def anonymous(cls, governance: GovernanceMode) -> Principal:
        return cls(label="anonymous", governance=governance)

    @classmethod
    def member(
        cls,
        *,
        member_id: int,
        participant_id: int,
        participant_kind: str,
        roles: frozenset[Role],
        governance: GovernanceMode,
    ) -> Principal:
        return cls(
            label=f"member:{member_id}",
            governance=governance,
            member_id=member_id,
            participant_id=participant_id,
            participant_kind=participant_kind,
            roles=roles,
        )

    @property
    def is_authenticated(self) -> bool:
        return self.member_id is not None


@dataclass(frozen=True, slots=True)
class Action:
    name: str
    description: str
    scope: Scope
    roles: frozenset[Role] = ALL_ROLES


@dataclass(frozen=True, slots=True)
class Resource:
    """Something owned by a participant; ``participant_id`` None means platform-wide."""

    participant_id: int | None = None

    @property
    def published(self) -> bool:
        """Whether anyone may read it without a credential (scope ``published``)."""
        return False


@dataclass(frozen=True, slots=True)
class ParticipantResource(Resource):
    """A participant; ``status`` is known when one participant is read, None for a listing."""

    status: str | None = None

    @property
    def published(self) -> bool:
        return self.status in PUBLISHED_PARTICIPANT_STATUSES


@dataclass(frozen=True, slots=True)
class PublicListing(Resource):
    """A listing whose rows are each decided on their own (anyone may ask for it)."""

    @property
    def published(self) -> bool:
        return True


@dataclass(frozen=True, slots=True)
class MemberResource(Resource):
    member_id: int | None = None


@dataclass(frozen=True, slots=True)
class TokenResource(MemberResource):
    pass


@dataclass(frozen=True, slots=True)
class LedgerResource(Resource):
    pass


@dataclass(frozen=True, slots=True)
class CatalogResource(Resource):
    """A data resource; ``participant_id`` is its holder.

    ``share_type`` and ``open_type`` are the resource's; they decide whether its
    catalog entry is published (see the module's docstring).
    """

    share_type: str | None = None
    open_type: str | None = None
    #: Private to its holder (an applicant's own data): never published, and
    #: concealed from every other participant.
    private: bool = False

    @property
    def published(self) -> bool:
        if self.private:
            return False
        return self.share_type in PUBLISHED_SHARE_TYPES or self.open_type in PUBLISHED_OPEN_TYPES


@dataclass(frozen=True, slots=True)
class PartyResource(Resource):
    """An object shared by several participants: an application or a grant.

    ``participant_id`` is its owner (the applicant, the grantee); ``parties``
    may read it; ``reviewers`` decide on it (holders, regulator, operator).
    """

    parties: frozenset[int] = frozenset()
    reviewers: frozenset[int] = frozenset()


@dataclass(frozen=True, slots=True)
class ProjectResource(PartyResource):
    """A cooperation project (or one of its lots, tenders, awards, contracts).

    ``classified`` is the project's flag; a classified project is published
    nowhere. It defaults to True so that a project whose flag was not read
    stays unpublished.
    """

    classified: bool = True

    @property
    def published(self) -> bool:
        return not self.classified


@dataclass(frozen=True, slots=True)
class Decision:
    """``conceal``: refused without revealing that the object exists (answered as not found)."""

    allowed: bool
    reason: str
    conceal: bool = False


def _a(name: str, description: str, scope: Scope, *roles: Role) -> Action:
    return Action(name, description, scope, frozenset(roles) if roles else ALL_ROLES)


class Actions:
    """Every action the platform knows; the permission matrix test iterates over these."""

    PARTICIPANT_REGISTER = _a(
        "participant.register", "申请注册参与方 / apply to register", Scope.ANYONE
    )
    PARTICIPANT_READ = _a(
        "participant.read", "查看参与方公开信息 / read public profile", Scope.PUBLISHED
    )
    PARTICIPANT_READ_PRIVATE = _a(
        "participant.read_private", "查看本方联系人 / read own private details", Scope.OWN
    )
    PARTICIPANT_UPDATE = _a(
        "participant.update", "更新本方联系人 / update own details", Scope.OWN, Role.ADMIN
    )
    PARTICIPANT_DECIDE = _a(
        "participant.decide",
        "审批、暂停、恢复或撤销参与方 / approve, reject, suspend, reinstate or revoke",
        Scope.APPROVER,
        Role.ADMIN,
        Role.REVIEWER,
    )
    QUALIFICATION_ADD = _a(
        "qualification.add", "登记资质 / add a qualification", Scope.OWN, Role.ADMIN
    )
    KEY_ROTATE = _a("key.rotate", "轮换签名密钥 / rotate the signing key", Scope.OWN, Role.ADMIN)
    MEMBER_MANAGE = _a(
        "member.manage", "管理本方成员 / create, list and change members", Scope.OWN, Role.ADMIN
    )
    TOKEN_MANAGE = _a(
        "token.manage", "签发、查看或吊销令牌 / issue, list or revoke tokens", Scope.SELF
    )
    RESOURCE_REGISTER = _a(
        "resource.register",
        "登记数据资源或新版本 / register a data resource or a new version",
        Scope.OWN,
        Role.ADMIN,
        Role.DATA_STEWARD,
    )
    INBOX_UPLOAD = _a(
        "inbox.upload",
        "上传文件到本方收件箱 / upload a file into one's own inbox",
        Scope.OWN,
        Role.ADMIN,
        Role.DATA_STEWARD,
    )
    RESOURCE_READ = _a("resource.read", "查看数据目录 / read the catalog", Scope.PUBLISHED)
    RESOURCE_CURATE = _a(
        "resource.curate",
        "确认或调整分级、编辑数据字典 / confirm or override the grade, edit the dictionary",
        Scope.OWN,
        Role.ADMIN,
        Role.DATA_STEWARD,
    )
    STANDARD_REGISTER = _a(
        "standard.register",
        "登记数据标准 / register a data standard",
        Scope.PLATFORM,
        Role.ADMIN,
        Role.DATA_STEWARD,
    )
    APPLICATION_SUBMIT = _a(
        "application.submit",
        "提交数据使用申请 / apply to use data",
        Scope.PLATFORM,
        Role.ADMIN,
        Role.ANALYST,
    )
    APPLICATION_READ = _a("application.read", "查看申请 / read an application", Scope.PARTY)
    APPLICATION_AMEND = _a(
        "application.amend",
        "按审核意见修改申请 / amend an application sent back for changes",
        Scope.OWN,
        Role.ADMIN,
        Role.ANALYST,
    )
    APPLICATION_WITHDRAW = _a(
        "application.withdraw",
        "撤回申请 / withdraw an application",
        Scope.OWN,
        Role.ADMIN,
        Role.ANALYST,
    )
    APPLICATION_REVIEW = _a(
        "application.review",
        "审核申请 / approve, reject or ask for changes",
        Scope.REVIEWER,
        Role.ADMIN,
        Role.REVIEWER,
    )
    OPEN_DATA_USE = _a(
        "open_data.use",
        "取得开放数据的自动授权 / take the automatic grant of open data",
        Scope.PLATFORM,
        Role.ADMIN,
        Role.ANALYST,
    )
    GRANT_READ = _a("grant.read", "查看授权 / read a grant", Scope.PARTY)
    GRANT_MANAGE = _a(
        "grant.manage",
        "暂停、恢复或撤销授权 / suspend, reinstate or revoke a grant",
        Scope.REVIEWER,
        Role.ADMIN,
        Role.REVIEWER,
    )
    QUERY_RUN = _a(
        "query.run",
        "在授权下运行受治理的查询 / run a governed query under a grant",
        Scope.OWN,
        Role.ADMIN,
        Role.ANALYST,
    )
    QUERY_READ = _a("query.read", "查看查询记录 / read a grant's query log", Scope.PARTY)
    QUERY_AUDIT = _a(
        "query.audit",
        "审查近似重复查询 / audit near-duplicate queries",
        Scope.REVIEWER,
        Role.ADMIN,
        Role.REVIEWER,
        Role.AUDITOR,
    )
    ALERT_READ = _a(
        "alert.read",
        "查看集中度、锁定与接续预警 / read concentration, lock-in and continuity alerts",
        Scope.REVIEWER,
        Role.ADMIN,
        Role.REVIEWER,
        Role.AUDITOR,
    )
    PROJECT_CREATE = _a(
        "project.create", "创建合作项目 / create a cooperation project", Scope.OWN, Role.ADMIN
    )
    PROJECT_READ = _a("project.read", "查看合作项目 / read cooperation projects", Scope.PLATFORM)
    PROJECT_PUBLIC_READ = _a(
        "project.public_read",
        "查看公开的项目、招标、中标与合同 / read the public record of a project: its lots, "
        "tenders, awards, contracts and open deliverables",
        Scope.PUBLISHED,
    )
    PROJECT_MANAGE = _a(
        "project.manage",
        "管理本方项目、标段、招标、评标与合同 / manage your own projects, lots, tenders and contracts",
        Scope.OWN,
        Role.ADMIN,
    )
    PROJECT_DECIDE = _a(
        "project.decide",
        "审批合作模式或批准规则例外 / approve a cooperation mode or grant a rule exception",
        Scope.REVIEWER,
        Role.ADMIN,
        Role.REVIEWER,
    )
    BID_SUBMIT = _a("bid.submit", "投标 / submit a bid", Scope.OWN, Role.ADMIN)
    BID_SCORE = _a(
        "bid.score",
        "评标打分（评标委员会）/ score bids as a committee member",
        Scope.REVIEWER,
        Role.ADMIN,
        Role.REVIEWER,
    )
    SLA_REPORT = _a(
        "sla.report", "报送运维 SLA 报告 / report O&M SLA figures", Scope.OWN, Role.ADMIN
    )
    INBOX_READ = _a("inbox.read", "查看本人待办 / read what awaits you", Scope.PLATFORM)
    LEDGER_READ = _a("ledger.read", "查看事件日志 / read the event log", Scope.PLATFORM)
    LEDGER_CHECKPOINT = _a(
        "ledger.checkpoint",
        "立即签发检查点 / sign a checkpoint now",
        Scope.PLATFORM,
        Role.ADMIN,
        Role.AUDITOR,
    )
    SHARE_RULE_SET = _a(
        "share_rule.set",
        "设定产品收益分配规则（监管方）/ set how a product's revenue is shared, as the regulator",
        Scope.REVIEWER,
        Role.ADMIN,
        Role.REVIEWER,
    )
    PRICE_READ = _a(
        "price.read", "查看公示的收费标准 / read the published price list", Scope.ANYONE
    )
    PRICE_MANAGE = _a(
        "price.manage",
        "登记本方产品和服务、确定具体收费标准 / list your products and set their prices",
        Scope.OWN,
        Role.ADMIN,
    )
    PRICE_REGULATE = _a(
        "price.regulate",
        "制定上限收费标准与最高准许收入 / set ceiling prices and maximum permitted revenue",
        Scope.REVIEWER,
        Role.ADMIN,
        Role.REVIEWER,
    )
    SHARE_RULE_READ = _a(
        "share_rule.read", "查看产品收益分配规则 / read a product's share rule", Scope.PLATFORM
    )
    SHARES_DISTRIBUTE = _a(
        "shares.distribute",
        "按贡献分配产品收益 / split a product's revenue among holders by contribution",
        Scope.APPROVER,
        Role.ADMIN,
    )
    EARNINGS_READ = _a("earnings.read", "查看持有方收益 / read a holder's earnings", Scope.PARTY)
    RATING_SUBMIT = _a(
        "rating.submit",
        "评价数据或承建方 / rate the data of a grant or a contractor",
        Scope.OWN,
        Role.ADMIN,
        Role.ANALYST,
    )
    RATING_ANSWER = _a(
        "rating.answer",
        "答复对本方的评价 / answer a rating of your own participant",
        Scope.OWN,
        Role.ADMIN,
        Role.DATA_STEWARD,
    )
    RATING_READ = _a("rating.read", "查看市场评价 / read market ratings", Scope.PLATFORM)
    BILLING_CLASSIFY = _a(
        "billing.classify",
        "认定授权用途为公益或经营、登记违规使用 / class a grant's use as public-interest "
        "or commercial, report misuse",
        Scope.REVIEWER,
        Role.ADMIN,
        Role.REVIEWER,
        Role.AUDITOR,
    )
    BILLING_METER = _a(
        "billing.meter",
        "计量本方服务用量、出具账单与年度报告 / meter your services' use, issue statements "
        "and annual reports",
        Scope.OWN,
        Role.ADMIN,
    )
    BILLING_READ = _a(
        "billing.read",
        "查看账单、收入与年度报告 / read statements, revenue and annual reports",
        Scope.PARTY,
    )
    BILLING_AUDIT = _a(
        "billing.audit",
        "依日志复算全部账单 / recompute every statement from the log",
        Scope.REVIEWER,
        Role.ADMIN,
        Role.REVIEWER,
        Role.AUDITOR,
    )
    # The platform's operator: a participant that approves registrations under
    # the governance mode (the one that bootstrapped the platform is one).
    METRICS_READ = _a(
        "metrics.read",
        "读取运行指标 / read the service metrics",
        Scope.APPROVER,
        Role.ADMIN,
        Role.AUDITOR,
    )

    @classmethod
    def all(cls) -> tuple[Action, ...]:
        return tuple(v for v in vars(cls).values() if isinstance(v, Action))


def decide(*, actor: Principal, action: Action, resource: Resource) -> Decision:
    """The decision, without raising. Exposed for the console's "why not?" hints."""
    if action.scope is Scope.ANYONE:
        return Decision(True, "open to anyone")
    if (
        isinstance(resource, CatalogResource)
        and resource.private
        and action.scope is Scope.PUBLISHED
        and (resource.participant_id is None or resource.participant_id != actor.participant_id)
    ):
        # Only its holder sees a private resource; to anyone else it does not exist.
        return Decision(False, "私有数据 / private to its holder", conceal=True)
    if not actor.is_authenticated:
        if action.scope is Scope.PUBLISHED:
            if resource.published:
                return Decision(True, "published: anyone may read it")
            return Decision(False, "未公开 / not published", conceal=True)
        return Decision(False, "需要登录 / authentication required")
    if not actor.roles & action.roles:
        wanted = ", ".join(sorted(action.roles))
        return Decision(False, f"需要角色 / requires one of the roles: {wanted}")
    own = resource.participant_id is not None and resource.participant_id == actor.participant_id
    if action.scope in (Scope.PLATFORM, Scope.PUBLISHED):
        return Decision(True, "platform members may read this")
    if action.scope is Scope.OWN:
        if own:
            return Decision(True, "resource belongs to the actor's participant")
        return Decision(False, "只能操作本方对象 / only the owning participant may do this")
    if action.scope is Scope.SELF:
        if isinstance(resource, MemberResource) and resource.member_id == actor.member_id:
            return Decision(True, "the actor's own object")
        if own and Role.ADMIN in actor.roles:
            return Decision(True, "admin of the owning participant")
        return Decision(
            False, "只能操作本人或本方成员的令牌 / only your own tokens or, as admin, your members'"
        )
    if action.scope is Scope.PARTY:
        parties = resource.parties if isinstance(resource, PartyResource) else frozenset()
        if own or actor.participant_id in parties:
            return Decision(True, "a party to the object")
        if actor.participant_kind == "regulator":
            # Data flows are visible to the regulator (docs/governance.md).
            return Decision(True, "the regulator supervises every data flow")
        return Decision(False, "只有相关方可查看 / only its parties may see this")
    if action.scope is Scope.REVIEWER:
        reviewers = resource.reviewers if isinstance(resource, PartyResource) else frozenset()
        if own:
            # Nobody decides on their own application or manages their own grant.
            return Decision(False, "不能审核本方对象 / a party cannot decide on its own object")
        if actor.participant_id in reviewers:
            return Decision(True, "a reviewer of the object")
        return Decision(False, "不是该对象的审核方 / not one of its reviewers")
    # Scope.APPROVER
    rules = rules_for(actor.governance)
    if actor.participant_kind not in rules.registration_approvers:
        who = ", ".join(sorted(rules.registration_approvers))
        return Decision(
            False, f"当前治理模式下由 {who} 审批 / under {actor.governance} only {who} decide"
        )
    if own:
        return Decision(False, "不能审批本方 / a participant cannot decide on itself")
    return Decision(True, "registration approver under the governance mode")


#: Who the public listings show their rows to: a caller without a credential.
#: The governance mode plays no part in an anonymous decision.
_ANYONE = Principal.anonymous(GovernanceMode.DATA_GOVERNANCE)


def published_to_anyone(*, action: Action, resource: Resource) -> bool:
    """Whether a caller without a credential may take ``action`` on ``resource``.

    For the public listings, which show the same rows to everyone: a signed-in
    member asking ``/public/projects`` sees what an anonymous caller sees.

    >>> published_to_anyone(
    ...     action=Actions.PROJECT_PUBLIC_READ, resource=ProjectResource(classified=False)
    ... )
    True
    >>> published_to_anyone(action=Actions.PROJECT_PUBLIC_READ, resource=ProjectResource())
    False
    """
    return decide(actor=_ANYONE, action=action, resource=resource).allowed


def authorize(
    *,
    actor: Principal,
    action: Action,
    resource: Resource,
    missing: NotFound | None = None,
) -> Decision:
    """Allow or raise :class:`Forbidden` with the reason in ``details``.

    A refusal that conceals the object raises ``missing`` instead: the very
    error the caller raises when no such object exists, so that both answers
    are the same.
    """
    decision = decide(actor=actor, action=action, resource=resource)
    if not decision.allowed and decision.conceal:
        raise missing if missing is not None else NotFound("对象不存在 / no such object")
    if not decision.allowed:
        raise Forbidden(
            f"无权执行 {action.name} / not allowed to {action.name}: {decision.reason}",
            details={"action": action.name, "reason": decision.reason},
        )
    return decision
