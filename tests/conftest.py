"""Shared fixtures: stores on SQLite and PostgreSQL, a minimal world, the full demo city.

Store-touching fixtures are parametrized over the ``sqlite`` and ``postgresql``
backends. PostgreSQL is reached through ``DATACOMPACT_TEST_DATABASE_URL``; the
tests create one database per test on that server (cloned from a template, so
migrations and the world's set-up run once per session) and drop it afterwards.
Passwords are hashed at argon2's smallest cost in the test process
(``_cheap_password_hashing``); the production parameters have a test of their own.
When the variable is unset the PostgreSQL cases skip with a visible reason;
``.ci/run`` always sets it. The tests of a module that use the API ``client``
share one world and one app, rolled back before each test (:class:`SharedWorld`):
an app costs more to build than most of those tests take.
"""

from __future__ import annotations

import os
import queue
import shutil
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from argon2 import PasswordHasher
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

if TYPE_CHECKING:
    from .api.conftest import SharedApp

from datacompact.config import Settings
from datacompact.permissions import Principal, Role
from datacompact.platform import Platform
from datacompact.registry import members, participants, tokens
from datacompact.registry.members import create_member
from datacompact.registry.schemas import (
    Decision,
    MemberCreate,
    ParticipantCreate,
    ParticipantKind,
)
from datacompact.store.models import Member, Participant

PG_ENV = "DATACOMPACT_TEST_DATABASE_URL"
PG_SKIP = f"{PG_ENV} is not set: PostgreSQL store tests skipped (CI always sets it)"
BACKENDS = ("sqlite", "postgresql")

# Valid USCCs (GB 32100 check characters) used across the tests.
USCC_REGULATOR = "11330100MB0000001R"
USCC_DEPARTMENT = "11330100MB0000002W"
USCC_ENTERPRISE = "91330106MA27XL6Y1N"
USCC_ENTERPRISE_2 = "91330108MA2B0000XJ"
USCC_PENDING = "91330110MA2C000007"


#: The hasher the platform ships with; tests/test_password_hashing.py checks its parameters.
PRODUCTION_HASHER = members._hasher
#: argon2id at its smallest cost: ~0.04 ms a hash instead of ~0.2 s of CPU. Hundreds of
#: registrations and logins run in the tests, and none of them is about the hash's cost.
CHEAP_HASHER = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)


@pytest.fixture(autouse=True, scope="session")
def _cheap_password_hashing() -> Iterator[None]:
    """Hash and check passwords with :data:`CHEAP_HASHER` in this process.

    A hash records its own parameters, so a stored hash verifies with either
    hasher; subprocesses the tests start hash at the production cost.
    """
    patch = pytest.MonkeyPatch()
    patch.setattr(members, "_hasher", CHEAP_HASHER)
    yield
    patch.undo()


def valid_uscc(stem: str) -> str:
    from stdnum.cn import uscc

    return stem + uscc.calc_check_digit(stem)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark the cases on the PostgreSQL store ``postgres``, and those on the demo city ``slow``.

    ``-m "not postgres"`` then leaves the store cases out instead of collecting
    them only to skip (``make check``), and ``-m postgres`` runs them alone.
    Building the demo city (the ``city`` fixture) takes well over the ~3 s
    that makes a test slow, once per process.
    """
    for item in items:
        callspec = getattr(item, "callspec", None)
        if callspec is not None and "postgresql" in callspec.params.values():
            item.add_marker(pytest.mark.postgres)
        if "_city_home" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.slow)


class PgServer:
    """Creates, clones and drops databases on the test PostgreSQL server."""

    #: Databases waiting for the background drop; past this, a test drops its own.
    MAX_PENDING_DROPS = 32

    def __init__(self, url: str) -> None:
        self.base = make_url(url)
        self.admin = create_engine(
            self.base.set(database="postgres"), isolation_level="AUTOCOMMIT", pool_size=1
        )
        self._doomed: queue.SimpleQueue[str | None] = queue.SimpleQueue()
        self._dropper: threading.Thread | None = None
        self._failed_drops: list[str] = []

    def url(self, name: str) -> str:
        return self.base.set(database=name).render_as_string(hide_password=False)

    def create(self, name: str, template: str | None = None) -> str:
        clause = f' TEMPLATE "{template}"' if template else ""
        with self.admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"{clause}'))
        return self.url(name)

    def drop(self, name: str) -> None:
        with self.admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))

    def rename(self, name: str, new_name: str) -> None:
        with self.admin.connect() as conn:
            conn.execute(text(f'ALTER DATABASE "{name}" RENAME TO "{new_name}"'))

    def drop_later(self, name: str) -> None:
        """Drop ``name`` in a background thread, so the next test need not wait for it.

        A drop waits for the server to remove the database's files (a second
        or more on a busy disk, more than the test itself for most store
        tests); nothing reads the database once its test has ended.
        """
        if self._doomed.qsize() >= self.MAX_PENDING_DROPS:
            self.drop(name)
            return
        if self._dropper is None:
            self._dropper = threading.Thread(target=self._drop_queued, name="pg-drops", daemon=True)
            self._dropper.start()
        self._doomed.put(name)

    def _drop_queued(self) -> None:
        while (name := self._doomed.get()) is not None:
            try:
                self.drop(name)
            except Exception as exc:  # reported by finish(), at the end of the session
                self._failed_drops.append(f"{name}: {type(exc).__name__}: {exc}")

    def finish(self) -> None:
        """Wait for the background drops, close the admin engine, and report failed drops."""
        if self._dropper is not None:
            self._doomed.put(None)
            self._dropper.join()
            self._dropper = None
        self.admin.dispose()
        assert not self._failed_drops, f"test databases left behind: {self._failed_drops}"


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PgServer | None]:
    url = os.environ.get(PG_ENV)
    if not url:
        yield None
        return
    server = PgServer(url)
    yield server
    server.finish()


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest, pg_server: PgServer | None) -> str:
    if request.param == "postgresql" and pg_server is None:
        pytest.skip(PG_SKIP)
    return str(request.param)


def _new_name() -> str:
    return f"dct_{uuid.uuid4().hex[:16]}"


@pytest.fixture
def empty_platform(backend: str, tmp_path: Path, pg_server: PgServer | None) -> Iterator[Platform]:
    """A fresh, migrated platform with no participants."""
    name = _new_name()
    url = pg_server.create(name) if backend == "postgresql" and pg_server else None
    settings = Settings(home=tmp_path / "home", database_url=url)
    platform = Platform(settings)
    platform.initialize()
    yield platform
    platform.close()
    if url and pg_server:
        pg_server.drop_later(name)


def registration(
    kind: ParticipantKind, uscc: str, username: str, **extra: object
) -> ParticipantCreate:
    return ParticipantCreate.model_validate(
        {
            "kind": kind.value,
            "name": f"测试{username}",
            "uscc": uscc,
            "region_code": "330106",
            "admin": {
                "username": username,
                "display_name": "管理员",
                "password": "correct horse battery",
            },
            **extra,
        }
    )


@dataclass
class World:
    """A minimal platform: a regulator, a department, two enterprises and a pending applicant.

    ``tokens`` maps ``"<participant>.<role>"`` to a token of a member with that
    single role (``"regulator.admin"``, ``"enterprise.analyst"``, ...).
    """

    platform: Platform
    ids: dict[str, int] = field(default_factory=dict)
    members: dict[str, int] = field(default_factory=dict)
    tokens: dict[str, str] = field(default_factory=dict)

    def principal(self, key: str) -> Principal:
        with self.platform.db.read() as session:
            return tokens.authenticate(
                session=session,
                token=self.tokens[key],
                governance=self.platform.settings.governance_mode,
            )


WORLD_PARTICIPANTS = {
    "regulator": (ParticipantKind.REGULATOR, USCC_REGULATOR, {}),
    "department": (ParticipantKind.GOVERNMENT_DEPARTMENT, USCC_DEPARTMENT, {}),
    "enterprise": (ParticipantKind.ENTERPRISE, USCC_ENTERPRISE, {"ownership": "private"}),
    "enterprise2": (ParticipantKind.ENTERPRISE, USCC_ENTERPRISE_2, {"ownership": "state_owned"}),
}


def _build_world(platform: Platform) -> World:
    world = World(platform)
    mode = platform.settings.governance_mode
    with platform.db.write() as session:
        regulator = participants.bootstrap_platform(
            session=session,
            secret=platform.secret,
            governance=mode,
            data=registration(*WORLD_PARTICIPANTS["regulator"][:2], "regulator.admin"),
        ).value.participant
        world.ids["regulator"] = regulator.id
    approver = None
    for key, (kind, uscc, extra) in WORLD_PARTICIPANTS.items():
        with platform.db.write() as session:
            if key != "regulator":
                participant = participants.register_participant(
                    session=session,
                    actor=Principal.anonymous(mode),
                    secret=platform.secret,
                    data=registration(kind, uscc, f"{key}.admin", **extra),
                ).value
                participants.decide_participant(
                    session=session,
                    actor=approver,  # type: ignore[arg-type]
                    participant_id=participant.id,
                    decision=Decision.APPROVE,
                    reason="test approval",
                )
                world.ids[key] = participant.id
            participant = session.get_one(Participant, world.ids[key])
            admin = session.query(Member).filter_by(username=f"{key}.admin").one()
            admin_principal = Principal.member(
                member_id=admin.id,
                participant_id=participant.id,
                participant_kind=participant.kind,
                roles=frozenset({Role.ADMIN}),
                governance=mode,
            )
            approver = approver or admin_principal
            world.members[f"{key}.admin"] = admin.id
            for role in Role:
                if role is not Role.ADMIN:
                    member = create_member(
                        session=session,
                        actor=admin_principal,
                        participant_id=participant.id,
                        data=MemberCreate(
                            username=f"{key}.{role.value.replace('_', '-')}",
                            display_name=role.value,
                            roles=[role],
                        ),
                    ).value
                    world.members[f"{key}.{role.value}"] = member.id
            for label, member_id in list(world.members.items()):
                if label.startswith(f"{key}."):
                    member_obj = session.get(Member, member_id)
                    assert member_obj is not None
                    value = tokens.new_token_value()
                    tokens.issue_known_token(
                        session,
                        actor=admin_principal,
                        member=member_obj,
                        value=value,
                        label="test",
                        ttl=timedelta(days=1),
                    )
                    world.tokens[label] = value
    with platform.db.write() as session:
        pending = participants.register_participant(
            session=session,
            actor=Principal.anonymous(mode),
            secret=platform.secret,
            data=registration(
                ParticipantKind.ENTERPRISE, USCC_PENDING, "pending.admin", ownership="private"
            ),
        ).value
        world.ids["pending"] = pending.id
    return world


@dataclass
class Template:
    backend: str
    location: str  # SQLite file path or PostgreSQL database name
    home: Path
    world: World


@pytest.fixture(scope="session")
def _templates(
    tmp_path_factory: pytest.TempPathFactory, pg_server: PgServer | None
) -> Iterator[dict[str, Template]]:
    built: dict[str, Template] = {}
    yield built
    for template in built.values():
        if template.backend == "postgresql" and pg_server is not None:
            pg_server.drop(template.location)


def _template(
    backend: str,
    templates: dict[str, Template],
    tmp_path_factory: pytest.TempPathFactory,
    pg_server: PgServer | None,
) -> Template:
    if backend not in templates:
        home = tmp_path_factory.mktemp(f"world-{backend}") / "home"
        if backend == "postgresql":
            assert pg_server is not None
            name = _new_name()
            url: str | None = pg_server.create(name)
            location = name
        else:
            url = None
            location = str(home / "datacompact.db")
        platform = Platform(Settings(home=home, database_url=url))
        platform.initialize()
        world = _build_world(platform)
        platform.close()
        templates[backend] = Template(backend, location, home, world)
    return templates[backend]


@pytest.fixture(scope="module")
def _shared_apps() -> Iterator[dict[str, SharedApp]]:
    """The module's app on each backend, for the tests that use ``client``."""
    built: dict[str, SharedApp] = {}
    yield built
    for app in built.values():
        app.shared.close()


@pytest.fixture
def world(
    request: pytest.FixtureRequest,
    backend: str,
    tmp_path: Path,
    _templates: dict[str, Template],
    tmp_path_factory: pytest.TempPathFactory,
    pg_server: PgServer | None,
    _shared_apps: dict[str, SharedApp],
) -> Iterator[World]:
    """A copy of the minimal world, on each backend, as fresh as a private one.

    A test that uses ``client`` gets the module's shared world and app
    (``tests/api/conftest.py``), rolled back to their saved state; any other
    test gets a private copy.
    """
    if "client" in request.fixturenames:
        if backend not in _shared_apps:
            from .api.conftest import SharedApp

            shared = shared_world(backend, _templates, tmp_path_factory, pg_server)
            _shared_apps[backend] = SharedApp(shared)
        yield _shared_apps[backend].reset()
        return
    template = _template(backend, _templates, tmp_path_factory, pg_server)
    home = tmp_path / "home"
    shutil.copytree(template.home, home)
    name = None
    url = None
    if backend == "postgresql" and pg_server is not None:
        name = _new_name()
        url = pg_server.create(name, template=template.location)
    platform = Platform(Settings(home=home, database_url=url))
    yield World(
        platform,
        dict(template.world.ids),
        dict(template.world.members),
        dict(template.world.tokens),
    )
    platform.close()
    if name and pg_server:
        pg_server.drop_later(name)


@dataclass(frozen=True)
class Saved:
    """A saved state of a :class:`SharedWorld`: a copy of its home, and of its database."""

    home: Path
    database: str | None  # PostgreSQL: the name of the database copy
    ids: dict[str, int]
    members: dict[str, int]
    tokens: dict[str, str]


class SharedWorld:
    """One copy of the minimal world, opened once and rolled back to saved states.

    For fixtures of a wider scope than one test (one world per module, one app
    per module): ``save()`` copies the home folder (and, on PostgreSQL, the
    database) aside, ``restore(saved)`` puts that copy back under the same
    paths and names, so the platform, and an app built on it, keep working;
    it also forgets the rate-limit counters and back-offs the platform keeps
    in memory.
    Restoring costs a folder copy (SQLite) or one ``CREATE DATABASE ...
    TEMPLATE`` (PostgreSQL) instead of opening a platform, signing a
    checkpoint and building an app again.
    """

    def __init__(self, template: Template, folder: Path, pg_server: PgServer | None) -> None:
        self.folder = folder
        self.pg_server = pg_server
        self._saves = 0
        self._databases: list[str] = []
        home = folder / "home"
        shutil.copytree(template.home, home)
        self.database: str | None = None
        url = None
        if template.backend == "postgresql":
            assert pg_server is not None
            self.database = _new_name()
            url = pg_server.create(self.database, template=template.location)
            self._databases.append(self.database)
        self.world = World(
            Platform(Settings(home=home, database_url=url)),
            dict(template.world.ids),
            dict(template.world.members),
            dict(template.world.tokens),
        )

    @property
    def platform(self) -> Platform:
        return self.world.platform

    def _release(self) -> None:
        """Close every connection (and the DuckDB sandbox) so the store can be copied."""
        self.platform.close()
        # close() ends the sandbox but keeps it cached; the next query opens a new one.
        if "sandbox" in vars(self.platform):
            del self.platform.sandbox

    def save(self) -> Saved:
        self._release()
        self._saves += 1
        home = self.folder / f"saved-{self._saves}"
        shutil.copytree(self.platform.settings.home, home)
        database = None
        if self.database is not None:
            assert self.pg_server is not None
            server, current, database = self.pg_server, self.database, _new_name()
            _when_unused(lambda: server.create(database, template=current))
            self._databases.append(database)
        return Saved(
            home, database, dict(self.world.ids), dict(self.world.members), dict(self.world.tokens)
        )

    def restore(self, saved: Saved) -> None:
        self._release()
        home = self.platform.settings.home
        shutil.rmtree(home)
        shutil.copytree(saved.home, home)
        if self.database is not None:
            assert self.pg_server is not None
            assert saved.database is not None
            # Renamed out of the way and dropped in the background: only the clone waits.
            server, current, spent = self.pg_server, self.database, _new_name()
            _when_unused(lambda: server.rename(current, spent))
            server.drop_later(spent)
            _when_unused(lambda: server.create(current, template=saved.database))
        self.world.ids = dict(saved.ids)
        self.world.members = dict(saved.members)
        self.world.tokens = dict(saved.tokens)
        # The counters and login back-offs live in this process, not in the store.
        if "rate_limits" in vars(self.platform):
            self.platform.rate_limits.storage.reset()

    def close(self) -> None:
        self._release()
        if self.pg_server is not None:
            # In the background, like every other drop: a module's teardown
            # would otherwise wait behind the drops already queued.
            for name in self._databases:
                self.pg_server.drop_later(name)


def _when_unused(action: Callable[[], object]) -> None:
    """Run a ``CREATE DATABASE ... TEMPLATE`` or a rename once the database's sessions are gone.

    The server ends a closed session's backend asynchronously; until it has,
    PostgreSQL refuses with "being accessed by other users".
    """
    from sqlalchemy.exc import OperationalError

    for _ in range(50):
        try:
            action()
            return
        except OperationalError as exc:
            if "being accessed by other users" not in str(exc):
                raise
            time.sleep(0.1)
    action()


def shared_world(
    backend: str,
    templates: dict[str, Template],
    tmp_path_factory: pytest.TempPathFactory,
    pg_server: PgServer | None,
) -> SharedWorld:
    """A :class:`SharedWorld` of the minimal world on ``backend``, for wider-scoped fixtures."""
    if backend == "postgresql" and pg_server is None:
        pytest.skip(PG_SKIP)
    template = _template(backend, templates, tmp_path_factory, pg_server)
    return SharedWorld(template, tmp_path_factory.mktemp(f"shared-{backend}"), pg_server)


@pytest.fixture(scope="session")
def _city_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from datacompact.demo import build_demo

    home = tmp_path_factory.mktemp("city") / "home"
    platform = Platform(Settings(home=home))
    platform.initialize()
    build_demo(platform, datasets_scale=0.01)
    platform.close()
    return home


@pytest.fixture
def city(_city_home: Path, tmp_path: Path) -> Iterator[Platform]:
    """A private copy of the full demo city (SQLite)."""
    home = tmp_path / "home"
    shutil.copytree(_city_home, home)
    platform = Platform(Settings(home=home))
    yield platform
    platform.close()


@pytest.fixture
def settings_for(tmp_path: Path):
    def make(**overrides: object) -> Settings:
        values: dict[str, object] = {"home": tmp_path / "home", **overrides}
        return Settings(**values)  # type: ignore[arg-type]

    return make


def tampered(text: str) -> str:
    """``text`` with its middle character changed, so that the bytes it decodes to change.

    Changing the last characters may not: the last base64 character can hold unused bits.
    """
    middle = len(text) // 2
    return text[:middle] + ("B" if text[middle] != "B" else "C") + text[middle + 1 :]


@pytest.fixture(autouse=True)
def _no_remote_left_over() -> None:
    """Forget the ``--url``/``--profile`` of a CLI run earlier in this process.

    The root command remembers them for its one invocation; a test that
    invokes a command group directly skips the root, and would otherwise act
    on the platform an earlier test named.
    """
    from datacompact.cli import _context

    _context.choose(url=None, profile=None)
