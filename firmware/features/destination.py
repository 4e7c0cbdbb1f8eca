"""Where a call continues when a feature hands it on: one type for departments, queues, voice
menus and, later, inbound routes, so that any of them may send a call to any other."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from firmware.config.schema import setting


class DestinationKind(StrEnum):
    """What a call can be handed to."""

    DEPARTMENT = "department"
    EMPLOYEE = "employee"
    QUEUE = "queue"
    VOICEMAIL = "voicemail"
    FAX = "fax"
    EXTENSION = "extension"
    """Whatever the number dialled is (a menu's dial-by-extension)."""
    EXTERNAL = "external"


@dataclass(frozen=True, slots=True)
class Destination:
    """A place a call continues to: `Destination(DestinationKind.VOICEMAIL, "sales")`."""

    kind: DestinationKind = field(
        metadata=setting("What the call continues to: department, employee, queue, voicemail, "
                         "fax, extension or external.")
    )
    target: str = field(
        default="",
        metadata=setting("Its id (department, queue, the employee's user id, voicemail box), "
                         "the extension or, for external, the number; empty voicemail: the box "
                         "of the department or queue giving the call up.", maximum=32,
                         example="sales")
    )
