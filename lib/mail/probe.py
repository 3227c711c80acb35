"""`lib.cli mail-test`: one short message to check the mail settings end to end."""

from __future__ import annotations

from email.message import EmailMessage

from lib.mail import envelope


def test_message(to: str, *, mail_from: str, transport: str) -> EmailMessage:
    message = envelope.new_message(
        subject="Prueba de envío: Envío masivo de estados de cuenta", mail_from=mail_from, to=to
    )
    message.set_content(
        f"Este es un correo de prueba enviado con el transporte '{transport}'.\n"
        "Si lo recibió, los estados de cuenta pueden enviarse con esta configuración.\n"
    )
    return message
