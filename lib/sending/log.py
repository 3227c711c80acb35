"""The run log (manual section 3): one line per customer in the manual's exact format, as the
`LogEnvioMasivo_<AAAAMMDD>.txt` the analyst gets by email, downloads and reads on the CLI.
"""

from __future__ import annotations

from email.message import EmailMessage

from sqlalchemy.orm import Session

from lib import formatting, templating
from lib.mail import envelope
from lib.models import SendItem, SendRun
from lib.sending import queue, runs
from lib.sending.status import ItemStatus

TEMPLATE = "correo_log.txt"
BOUNCES_TEMPLATE = "correo_rebotes.txt"


def file_name(run: SendRun) -> str:
    """`LogEnvioMasivo_<YYYYMMDD>.txt`, the day the send ran."""
    return f"LogEnvioMasivo_{run.run_date:%Y%m%d}.txt"


def line(run: SendRun, item: SendItem) -> str:
    """One line in exactly the manual's format. `Enviado: ok` only when every address took
    it; `parcial: <address>: <reason>[; …]` when some did, `error: <reason>` when none did.
    """
    if item.status == ItemStatus.SENT:
        outcome = "ok"
    elif item.status == ItemStatus.PARTIAL:
        outcome = f"parcial: {runs.item_message(item)}"
    else:
        outcome = f"error: {runs.item_message(item) or item.status}"
    return (
        f"Sociedad: {item.company_code} | NoCliente: {item.customer_no} | "
        f"FechaCorte: {run.cutoff_date:%Y%m%d} | NombreCliente: {item.customer_name} | "
        f"CorreoDestino: {item.emails} | Enviado: {outcome}"
    )


def text(session: Session, run: SendRun) -> str:
    """The log file: one line per customer, CRLF so Notepad shows it as the manual does."""
    return "".join(f"{line(run, item)}\r\n" for item in runs.items(session, run.id))


def summary(run: SendRun) -> str:
    """One line with the final counts of a finished run."""
    parts = [f"enviados {run.sent}", f"con error {run.failed}"]
    if stopped := queue.stopped(run):
        parts.append(f"detenidos {stopped}")
    if run.partial:
        parts.append(f"parciales {run.partial}")
    if run.bounced:
        parts.append(f"rebotados {run.bounced}")
    if run.uncertain:
        parts.append(f"inciertos {run.uncertain}")
    if run.skipped:
        parts.append(f"sin saldo {run.skipped}")
    return f"resumen: {formatting.count(run.total, 'cliente')}, " + ", ".join(parts)


def message(run: SendRun, log_text: str, *, mail_from: str) -> EmailMessage:
    """The user who ran the send gets the log of what went out, as a `.txt`."""
    name = file_name(run)
    email = envelope.new_message(
        subject=f"Log de envío masivo de estados de cuenta del {formatting.day(run.run_date)}",
        mail_from=mail_from,
        to=run.notify_email,
    )
    email.set_content(
        templating.render_file(
            TEMPLATE,
            run=run,
            fecha_corte=formatting.day(run.cutoff_date),
            archivo=name,
            detenidos=queue.stopped(run),
            nota=formatting.sentence(run.note) if run.note else "",
        ).strip()
        + "\n"
    )
    email.add_attachment(log_text, subtype="plain", charset="utf-8", filename=name)
    return email


def bounce_message(run: SendRun, lines: str, *, mail_from: str) -> EmailMessage:
    """Bounces that came after the log went out: the affected customers' log lines as they
    stand now, in the body and as the attachment.
    """
    email = envelope.new_message(
        subject=f"Rebotes del envío núm. {run.id}", mail_from=mail_from, to=run.notify_email
    )
    email.set_content(
        templating.render_file(
            BOUNCES_TEMPLATE,
            run=run,
            fecha_corte=formatting.day(run.cutoff_date),
            lineas=lines.splitlines(),
        ).strip()
        + "\n"
    )
    name = f"Rebotes_{run.id}_{run.run_date:%Y%m%d}.txt"
    email.add_attachment(lines, subtype="plain", charset="utf-8", filename=name)
    return email
