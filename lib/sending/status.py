"""The states of a send item and of a send run, each with the words and icon the screens use.

Stored as their string values, so the database and old rows read the same; `ItemStatus(x)`
turns a stored value back into the member with its label.
"""

from __future__ import annotations

from enum import StrEnum


class ItemStatus(StrEnum):
    """One customer of a run: pending → sending → sent | partial | failed | uncertain, or
    skipped, or stopped. `partial`: some of the customer's addresses took it and others refused
    it or bounced it later; `bounced`: the server took it and every address bounced it back
    later; `stopped`: Detener (or an interrupted `lib.cli send`) came before any worker took it.
    """

    PENDING = "pending"
    SENDING = "sending"
    SENT = "sent"
    PARTIAL = "partial"
    FAILED = "failed"
    BOUNCED = "bounced"
    SKIPPED = "skipped"
    UNCERTAIN = "uncertain"
    STOPPED = "stopped"

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
    def color(self) -> str:
        """The outcome's colour in charts, the same whatever else the chart shows."""
        return _ITEM_COLORS[self]

    @property
    def is_open(self) -> bool:
        """Still to be decided by a worker."""
        return self in OPEN_ITEM_STATES


_ITEM_WORDS = {
    ItemStatus.PENDING: ("⏳", "Pendiente", "Pendiente"),
    ItemStatus.SENDING: ("📤", "Enviando", "Enviando"),
    ItemStatus.SENT: ("✅", "Enviado", "Enviado"),
    ItemStatus.PARTIAL: ("⚠️", "Parcial", "Parcial"),
    ItemStatus.FAILED: ("❌", "Error", "Con error"),
    ItemStatus.BOUNCED: ("❌", "Rebotado", "Rebotado"),
    ItemStatus.SKIPPED: ("⏭️", "No enviado", "Sin saldo"),
    ItemStatus.UNCERTAIN: ("⚠️", "Incierto", "Incierto"),
    ItemStatus.STOPPED: ("⏹️", "Detenido", "Detenido"),
}
_ITEM_COLORS = {
    ItemStatus.PENDING: "#90caf9",
    ItemStatus.SENDING: "#1e88e5",
    ItemStatus.SENT: "#2e7d32",
    ItemStatus.PARTIAL: "#f9a825",
    ItemStatus.FAILED: "#d32f2f",
    ItemStatus.BOUNCED: "#8e0000",
    ItemStatus.SKIPPED: "#9e9e9e",
    ItemStatus.UNCERTAIN: "#ef6c00",
    ItemStatus.STOPPED: "#546e7a",
}
OPEN_ITEM_STATES = (ItemStatus.PENDING, ItemStatus.SENDING)
# The email reached the customer at one address at least.
DELIVERED_ITEM_STATES = (ItemStatus.SENT, ItemStatus.PARTIAL)
# Reintentar fallidos sends these again: the customer got nothing.
RETRIED_ITEM_STATES = (ItemStatus.FAILED, ItemStatus.BOUNCED, ItemStatus.STOPPED)


class AddressOutcome(StrEnum):
    """One address of a send item, as the mail server answered for it."""

    ACCEPTED = "accepted"
    REFUSED = "refused"
    BOUNCED = "bounced"  # accepted, then a delivery status notification said it failed

    @property
    def failed(self) -> bool:
        return self is not AddressOutcome.ACCEPTED

    @property
    def verb(self) -> str:
        """What happened, before the server's words: `<address>: rechazado: 550 5.1.1 …`."""
        return _ADDRESS_VERBS[self]


_ADDRESS_VERBS = {
    AddressOutcome.ACCEPTED: "aceptado",
    AddressOutcome.REFUSED: "rechazado",
    AddressOutcome.BOUNCED: "rebotó",
}


class RunStatus(StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    DONE = "done"

    @property
    def label(self) -> str:
        return _RUN_LABELS[self]

    def shown(self, stopped: int) -> str:
        """The run's Estado as the screens say it: a run with stopped customers was stopped,
        which the stored state (done, or still finishing those being sent) does not tell.
        """
        if not stopped:
            return self.label
        return STOPPED_RUN_LABEL if self is RunStatus.DONE else STOPPING_RUN_LABEL


_RUN_LABELS = {
    RunStatus.PENDING: "En espera",
    RunStatus.RUNNING: "Enviando",
    RunStatus.DONE: "Terminado",
}
STOPPED_RUN_LABEL, STOPPING_RUN_LABEL = "Detenido", "Deteniendo"
ACTIVE_RUN_STATES = (RunStatus.PENDING, RunStatus.RUNNING)
