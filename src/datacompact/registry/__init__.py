"""Registry: participants, their members and tokens, qualifications and signing keys.

The services take a session and an acting :class:`~datacompact.permissions.Principal`,
check permission with ``authorize`` and record their event in the same
transaction:

* :mod:`~datacompact.registry.participants`: bootstrap, registration and
  decisions (approve, reject, suspend, reinstate, revoke), contacts;
* :mod:`~datacompact.registry.members`: members, roles and passwords (argon2);
* :mod:`~datacompact.registry.tokens`: scoped, expiring, revocable API tokens;
* :mod:`~datacompact.registry.qualifications`: qualifications (资质) with evidence hashes;
* :mod:`~datacompact.registry.keys`: participants' signing keys, sealed under the platform secret;
* :mod:`~datacompact.registry.identifiers`: USCC (GB 32100) and region codes (GB/T 2260);
* :mod:`~datacompact.registry.lookup`: rows by id, one ``NotFound`` per kind;
* :mod:`~datacompact.registry.schemas`: the request and response bodies.

Who approves what under each governance mode is :mod:`datacompact.governance`.
The names below load their module on first use, so importing one part of
the registry (the command line imports only its schemas) does not load the
rest.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from datacompact.registry.identifiers import region_name, validate_region_code, validate_uscc
    from datacompact.registry.members import (
        add_member,
        create_member,
        deactivate_member,
        list_members,
        set_member_roles,
    )
    from datacompact.registry.participants import (
        Bootstrap,
        approved_of_kind,
        awaiting_decision,
        bootstrap_platform,
        decide_participant,
        get_participant,
        list_participants,
        register_participant,
        registration_approvers,
        update_contacts,
    )
    from datacompact.registry.qualifications import add_qualification, list_qualifications
    from datacompact.registry.schemas import (
        Decision,
        ParticipantCreate,
        ParticipantKind,
        ParticipantStatus,
    )
    from datacompact.registry.tokens import (
        authenticate,
        issue_token,
        list_tokens,
        login,
        revoke_token,
    )

# Each name loads its module on first use (PEP 562).
_MODULE_OF = {
    "region_name": "identifiers",
    "validate_region_code": "identifiers",
    "validate_uscc": "identifiers",
    "add_member": "members",
    "create_member": "members",
    "deactivate_member": "members",
    "list_members": "members",
    "set_member_roles": "members",
    "Bootstrap": "participants",
    "approved_of_kind": "participants",
    "awaiting_decision": "participants",
    "registration_approvers": "participants",
    "bootstrap_platform": "participants",
    "decide_participant": "participants",
    "get_participant": "participants",
    "list_participants": "participants",
    "register_participant": "participants",
    "update_contacts": "participants",
    "add_qualification": "qualifications",
    "list_qualifications": "qualifications",
    "Decision": "schemas",
    "ParticipantCreate": "schemas",
    "ParticipantKind": "schemas",
    "ParticipantStatus": "schemas",
    "authenticate": "tokens",
    "issue_token": "tokens",
    "list_tokens": "tokens",
    "login": "tokens",
    "revoke_token": "tokens",
}

__all__ = [
    "Bootstrap",
    "Decision",
    "ParticipantCreate",
    "ParticipantKind",
    "ParticipantStatus",
    "add_member",
    "add_qualification",
    "approved_of_kind",
    "authenticate",
    "awaiting_decision",
    "bootstrap_platform",
    "create_member",
    "deactivate_member",
    "decide_participant",
    "get_participant",
    "issue_token",
    "list_members",
    "list_participants",
    "list_qualifications",
    "list_tokens",
    "login",
    "region_name",
    "register_participant",
    "registration_approvers",
    "revoke_token",
    "set_member_roles",
    "update_contacts",
    "validate_region_code",
    "validate_uscc",
]


def __getattr__(name: str) -> Any:
    module = _MODULE_OF.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(import_module(f"{__name__}.{module}"), name)
