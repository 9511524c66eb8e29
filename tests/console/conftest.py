"""The console over the minimal world, with resources in its catalog.

The tests of a module share one world (with its resources registered) and
one app per store, rolled back before each test as ``tests/api`` does
(:class:`SharedWeb`): registering the resources and building the app cost
more than most console tests take.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from datacompact.api import create_app
from datacompact.catalog import resources as catalog
from datacompact.catalog.schemas import ResourceBase
from datacompact.ledger.log import checkpoints
from datacompact.platform import Platform

from ..api.conftest import ApiClient, forget
from ..conftest import PgServer, SharedWorld, Template, World, shared_world

PASSWORD = "correct horse battery"  # the world's admins' password
#: Text that would run or break out of an attribute if it were not escaped.
HOSTILE_NAME = "<script>alert('name')</script>\"'><img src=x onerror=alert(1)>"
HOSTILE_DESCRIPTION = 'javascript:alert(1) <a href="javascript:alert(2)">click</a> </textarea>'


def people_csv(path: Path, rows: int = 30) -> Path:
    with path.open("w", encoding="gbk", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["姓名", "手机号", "缴费金额"])
        for i in range(rows):
            writer.writerow(["张伟", f"138001380{i % 10}{i % 10}", str(100 + i)])
    return path


def register(world: World, folder: Path, meta: dict[str, Any], key: str) -> str:
    """Register a resource from a small GBK file; its registration code."""
    platform = world.platform
    folder.mkdir(parents=True, exist_ok=True)
    recorded = catalog.register_resource(
        db=platform.db,
        home=platform.settings.home,
        actor=world.principal(key),
        data=ResourceBase.model_validate(meta),
        file=people_csv(folder / "people.csv"),
    )
    return recorded.value.code


@dataclass
class Web:
    """The app with the console, its world and the resources registered in it (by code)."""

    world: World
    client: ApiClient
    resources: dict[str, str]

    def page(self, key: str) -> str:
        """The console's page of a resource."""
        return f"/catalog/resources/{self.resources[key]}"

    @property
    def platform(self) -> Platform:
        return self.world.platform


def build_web(world: World, tmp_path: Path) -> Web:
    resources = {
        "social": register(
            world,
            tmp_path / "a",
            {
                "name": "社会保险缴费明细",
                "name_en": "Social insurance contributions",
                "description": "按月汇总的参保人员缴费记录",
                "themes": ["社保"],
                "tags": ["社保", "缴费"],
                "update_frequency": "monthly",
                "share_type": "conditional",
                "open_type": "conditional_open",
            },
            "department.data_steward",
        ),
        "hostile": register(
            world,
            tmp_path / "b",
            {
                "name": HOSTILE_NAME,
                "name_en": HOSTILE_NAME,
                "description": HOSTILE_DESCRIPTION,
                "themes": ["<b>theme</b>"],
                "tags": ["x"],
                "update_frequency": "daily",
                "share_type": "unconditional",
                "open_type": "open",
            },
            "enterprise.data_steward",
        ),
        "internal": register(
            world,
            tmp_path / "c",
            {
                "name": "内部考勤记录",
                "name_en": "Internal attendance",
                "description": "仅限本单位",
                "tags": ["考勤"],
                "update_frequency": "daily",
                "share_type": "not_shared",
                "open_type": "not_open",
            },
            "department.data_steward",
        ),
    }
    platform = world.platform
    checkpoints.checkpoint_now(platform.db, signer=platform.log_signer, policy=None)
    return Web(world, ApiClient(create_app(platform)), resources)


class SharedWeb:
    """One :class:`Web` per module and store, over a :class:`SharedWorld` rolled back before each test.

    The resources are registered and the checkpoint signed once, then the
    world is saved; ``reset`` puts the store and home back and makes the app
    forget its caches and counters, so each test starts as on a new ``Web``.
    """

    def __init__(self, shared: SharedWorld, folder: Path) -> None:
        self.shared = shared
        self.web = build_web(shared.world, folder)
        self.saved = shared.save()

    def reset(self) -> Web:
        self.shared.restore(self.saved)
        forget(self.web.client.app)
        return Web(self.shared.world, self.web.client, dict(self.web.resources))


@pytest.fixture(scope="module")
def _shared_webs() -> Iterator[dict[str, SharedWeb]]:
    built: dict[str, SharedWeb] = {}
    yield built
    for shared in built.values():
        shared.shared.close()


@pytest.fixture
def web(
    backend: str,
    _templates: dict[str, Template],
    tmp_path_factory: pytest.TempPathFactory,
    pg_server: PgServer | None,
    _shared_webs: dict[str, SharedWeb],
) -> Web:
    """The module's console and world on ``backend``, as fresh as a new one."""
    if backend not in _shared_webs:
        shared = shared_world(backend, _templates, tmp_path_factory, pg_server)
        _shared_webs[backend] = SharedWeb(shared, tmp_path_factory.mktemp(f"web-{backend}"))
    return _shared_webs[backend].reset()


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found is not None, "no CSRF field in the page"
    return found.group(1)


class Browser:
    """Cookies kept between requests, as a browser keeps them (in-process)."""

    def __init__(self, client: ApiClient, lang: str | None = None) -> None:
        self.client = client
        self.cookies: dict[str, str] = {}
        self.lang = lang

    def _headers(self, extra: dict[str, str] | None) -> dict[str, str]:
        headers = dict(extra or {})
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        if self.lang:
            headers.setdefault("Accept-Language", self.lang)
        return headers

    def _keep(self, response: httpx.Response) -> httpx.Response:
        for header in response.headers.get_list("set-cookie"):
            pair = header.split(";", 1)[0]
            name, _, value = pair.partition("=")
            if "max-age=0" in header.lower() or not value.strip('"'):
                self.cookies.pop(name, None)
            else:
                self.cookies[name] = value.strip('"')
        return response

    def get(self, url: str, headers: dict[str, str] | None = None) -> httpx.Response:
        return self._keep(self.client.get(url, headers=self._headers(headers)))

    def post(
        self, url: str, data: dict[str, str], headers: dict[str, str] | None = None
    ) -> httpx.Response:
        return self._keep(self.client.post(url, data=data, headers=self._headers(headers)))

    def sign_in(self, username: str, password: str = PASSWORD) -> httpx.Response:
        form = self.get("/signin")
        return self.post(
            "/signin",
            {
                "csrf": csrf_of(form.text),
                "username": username,
                "password": password,
                "next": "/home",
            },
        )


# -- the steward's and analyst's pages (console-a) -------------------------------------------


def with_password(web: Web, *keys: str) -> None:
    """Give the world's members ``keys`` the admins' password, as their admin would."""
    from datacompact.registry.members import set_password

    world = web.world
    for key in keys:
        admin = world.principal(key.split(".")[0] + ".admin")
        with web.platform.db.write() as session:
            set_password(
                session=session, actor=admin, member_id=world.members[key], password=PASSWORD
            )


def resource_id(web: Web, key: str) -> int:
    with web.platform.db.read() as session:
        found = catalog.readable_by_code(
            session, web.world.principal("regulator.admin"), web.resources[key]
        )
        return found.id


def confirm_grade(web: Web, key: str = "social") -> int:
    """Confirm the proposed grade of a resource, as its steward; its id."""
    from datacompact.catalog.schemas import GradeDecisionIn

    rid = resource_id(web, key)
    with web.platform.db.write() as session:
        catalog.decide_grade(
            session=session,
            actor=web.world.principal("department.data_steward"),
            resource_id=rid,
            decision=GradeDecisionIn(decision="confirm"),
        )
    return rid


def approve(web: Web, application_id: int) -> int:
    """Every reviewer approves, in turn, through the service; the grant's id."""
    from sqlalchemy import select

    from datacompact.policy import applications
    from datacompact.store.models import Grant

    for reviewer in ("department.reviewer", "regulator.reviewer"):
        with web.platform.db.write() as session:
            applications.review_application(
                session=session,
                actor=web.world.principal(reviewer),
                application_id=application_id,
                decision="approve",
                reason="材料齐全 / documents complete",
            )
    with web.platform.db.read() as session:
        found = session.scalar(select(Grant.id).where(Grant.application_id == application_id))
    assert found is not None
    return found


def granted(
    web: Web,
    mode: str = "aggregates",
    columns: tuple[str, ...] = ("缴费金额",),
    epsilon: float | None = None,
) -> int:
    """The analyst's grant on the social resource (grade confirmed, application approved)."""
    from datacompact.policy import applications
    from datacompact.policy.schemas import ApplicationCreate

    rid = confirm_grade(web)
    data = ApplicationCreate.model_validate(
        {
            "scenario": "核验缴费 / verify contributions",
            "purpose": "credit_assessment",
            "resources": [{"resource_id": rid, "columns": list(columns)}],
            "output": {"mode": mode},
            "duration_days": 30,
            "expected_queries": 10,
            **({"epsilon": epsilon} if epsilon is not None else {}),
        }
    )
    with web.platform.db.write() as session:
        application = applications.submit_application(
            session=session, actor=web.world.principal("enterprise.analyst"), data=data
        ).value
    return approve(web, application.id)
