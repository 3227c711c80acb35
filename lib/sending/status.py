"""The states of a send item and of a send run, each with the words and icon the screens use.

Stored as their string values, so the database and old rows read the same; `ItemStatus(x)`
turns a stored value back into the member with its label.
"""

from __future__ import annotations

from enum import StrEnum


class ItemStatus(StrEnum):
    """One customer of a run: pending → sending → sent | failed | uncertain, or skipped."""

    PENDING = "pending"
    SENDING = "sending"
    SENT = "sent"
    FAILED = "failed"
    SKIPPED = "skipped"
    UNCERTAIN = "uncertain"

    @property
    def icon(self) -> str:
        return _ITEM_WORDS[self][0]

    @property
    def label(self) -> str:
        """The row's Estado: icon and word."""
        return f"{self.icon} {_ITEM_WORDS[self][1]}"

    @property
    def outcome(self) -> str:
        """The name of the outcome in counts and charts."""
        return _ITEM_WORDS[self][2]

    @property
    def is_open(self) -> bool:
        """Still to be decided by a worker."""
        return self in OPEN_ITEM_STATES


_ITEM_WORDS = {
    ItemStatus.PENDING: ("⏳", "Pendiente", "Pendiente"),
    ItemStatus.SENDING: ("📤", "Enviando", "Enviando"),
    ItemStatus.SENT: ("✅", "Enviado", "Enviado"),
    ItemStatus.FAILED: ("❌", "Error", "Con error"),
    ItemStatus.SKIPPED: ("⏭️", "No enviado", "Sin saldo"),
    ItemStatus.UNCERTAIN: ("⚠️", "Incierto", "Incierto"),
}
OPEN_ITEM_STATES = (ItemStatus.PENDING, ItemStatus.SENDING)


class RunStatus(StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    DONE = "done"

    @property
    def label(self) -> str:
        return _RUN_LABELS[self]


_RUN_LABELS = {
    RunStatus.PENDING: "En espera",
    RunStatus.RUNNING: "Enviando",
    RunStatus.DONE: "Terminado",
}
ACTIVE_RUN_STATES = (RunStatus.PENDING, RunStatus.RUNNING)
