"""lib.companies: the Sociedades form checked whole, saved with its templates and logo, audited."""

from __future__ import annotations

import io
import json
from dataclasses import replace
from datetime import date
from pathlib import Path

import pytest
import sqlalchemy as sa
from PIL import Image
from sqlalchemy.orm import Session, sessionmaker

from lib import companies, payments
from lib.models import AuditEvent, Company, CompanyTemplate, OpenItem
from lib.statements import message, pdf, thumbnails
from tests.support import seed_catalog

VALID_CLABE = "032180000118359719"
GOOD = companies.Draft(
    name="Soluciones del Bajío",
    tax_id="SBA010101AB1",
    address="Av. Juárez 1, León",
    currency="mxn",
    sender_name="Cobranza Bajío",
    sender_email="Cobranza@Bajio.EXAMPLE",
    reply_to="dudas@bajio.example",
    cc="a@bajio.example; B@BAJIO.example,",
    bank="BBVA México",
    account="0118359012",
    clabe="032 180 00011835971 9",
    payment_reference=payments.TAX_ID,
    attach_open_items=True,
    templates={"en": companies.TemplateDraft(subject="Statement {{ fecha_corte }}")},
)


def image(kind: str, size: tuple[int, int] = (40, 20)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, (200, 30, 30)).save(buffer, format=kind)
    return buffer.getvalue()


@pytest.fixture
def seeded(sessions: sessionmaker[Session]) -> sessionmaker[Session]:
    seed_catalog(sessions)
    return sessions


def test_a_good_form_is_parsed_like_the_imports_parse_it() -> None:
    checked = companies.check("SM02", GOOD)
    assert checked.ok, [str(p) for p in checked.problems]
    company = checked.company
    assert (company.currency, company.sender_email, company.cc, company.clabe) == (
        "MXN", "Cobranza@bajio.example", "a@bajio.example;B@bajio.example", VALID_CLABE
    )  # fmt: skip
    assert (company.payment_reference, company.attach_open_items, company.bcc) == (
        payments.TAX_ID, True, ""
    )  # fmt: skip
    assert checked.templates["en"].subject == "Statement {{ fecha_corte }}"
    assert checked.templates["es"].subject == ""
    assert not checked.logo_given


@pytest.mark.parametrize(
    ("change", "field", "shown"),
    [
        ({"clabe": "032180000118359718"}, "clabe",
         "CLABE '032180000118359718' no válida: el dígito verificador no coincide"),
        ({"clabe": "0321"}, "clabe", "CLABE '0321' no válida: debe tener 18 dígitos (tiene 4)"),
        ({"cc": "a@bajio.example; no-es-correo"}, "cc", "CC: correo no válido: 'no-es-correo'"),
        ({"bcc": "x@@y.mx"}, "bcc", "CCO: correo no válido: 'x@@y.mx'"),
        ({"sender_email": "cobranza"}, "sender_email",
         "Correo del remitente: correo no válido: 'cobranza'"),
        ({"reply_to": "a@b.mx; c@d.mx"}, "reply_to",
         "ResponderA: correo no válido: 'a@b.mx; c@d.mx' (solo un correo)"),
        ({"name": "  "}, "name", "Nombre: no puede quedar vacío"),
        ({"currency": "pesos"}, "currency",
         "Moneda no válida: 'PESOS' (usa un código de 3 letras como MXN)"),
        ({"bank": "B" * 101}, "bank", "Banco: más de 100 caracteres"),
        ({"sender_name": "Cobranza\x1b[31m"}, "sender_name",
         "Nombre del remitente: tiene caracteres de control (no imprimibles)"),
        ({"payment_reference": "otra"}, "payment_reference",
         "Referencia que indica el cliente: elige No. Cliente o RFC"),
        ({"templates": {"en": companies.TemplateDraft(html_body="<p>\n\n{{ clientes }}</p>")}},
         "templates.en.html_body",
         "Plantillas › English › Cuerpo HTML — Línea 3: «{{ clientes }}» no es un dato "
         "disponible (¿quisiste decir «{{ cliente }}»?); los disponibles están en la lista"),
        ({"templates": {"es": companies.TemplateDraft(subject="{% if saldo %}Saldo")}},
         "templates.es.subject", "Plantillas › Español › Asunto — Línea 1: "),
        ({"logo": b"GIF89a" + bytes(40)}, "logo", "Logotipo: no es una imagen PNG ni JPEG"),
        ({"logo": b"%PDF-1.7 not an image"}, "logo", "Logotipo: no es una imagen PNG ni JPEG"),
        ({"logo": image("PNG")[:60]}, "logo", "Logotipo: la imagen PNG está dañada o incompleta"),
        ({"logo": image("JPEG")[:200]}, "logo",
         "Logotipo: la imagen JPEG está dañada o incompleta"),
        ({"logo": b"\x89PNG\r\n\x1a\n" + bytes(companies.MAX_LOGO_BYTES)}, "logo",
         "Logotipo: el archivo pesa 1,025 KB; el máximo es 1 MB (1,024 KB)"),
        ({"logo": image("PNG", (3001, 10))}, "logo",
         "Logotipo: la imagen mide más de 3000 píxeles de lado"),
    ],
)  # fmt: skip
def test_each_bad_field_is_named_with_its_problem(change: dict, field: str, shown: str) -> None:
    checked = companies.check("SM02", replace(GOOD, **change))
    assert not checked.ok
    assert [p.field for p in checked.problems] == [field]
    assert str(checked.problems[0]).startswith(shown)
    assert checked.company is None


def test_every_problem_is_found_at_once_in_the_forms_order() -> None:
    bad = replace(GOOD, name="", clabe="1", cc="x", logo=b"nada",
                  templates={"es": companies.TemplateDraft(text_body="{{ nada }}")})  # fmt: skip
    checked = companies.check("SM02", bad)
    assert [p.located for p in checked.problems] == [
        "Datos › Nombre: no puede quedar vacío",
        "Remitente › CC: correo no válido: 'x'",
        "Datos para pago › CLABE '1' no válida: debe tener 18 dígitos (tiene 1)",
        "Datos › Logotipo: no es una imagen PNG ni JPEG",
        "Plantillas › Español › Cuerpo de texto — Línea 1: «{{ nada }}» no es un dato disponible; "
        "los disponibles están en la lista",
    ]


def test_a_removed_logo_is_not_checked() -> None:
    checked = companies.check("SM02", replace(GOOD, logo=b"nada", remove_logo=True))
    assert checked.ok
    assert checked.logo is None
    assert checked.logo_given


@pytest.mark.parametrize(("kind", "suffix"), [("PNG", ".png"), ("JPEG", ".jpg")])
def test_a_logo_is_taken_by_its_bytes_not_its_name(kind: str, suffix: str) -> None:
    logo = companies.check_logo(image(kind))
    assert (logo.kind, logo.suffix) == (kind, suffix)


def audits(sessions: sessionmaker[Session]) -> list[AuditEvent]:
    with sessions() as session:
        return list(session.scalars(sa.select(AuditEvent).order_by(AuditEvent.id)))


def save(sessions: sessionmaker[Session], draft: companies.Draft, data_dir: Path) -> list[str]:
    with sessions() as session, session.begin():
        return companies.save(session, "SM02", draft, data_dir=data_dir, by="root")


def test_grabar_saves_the_sociedad_and_both_templates_with_one_audit_event(
    seeded: sessionmaker[Session], tmp_path: Path
) -> None:
    changed = save(seeded, GOOD, tmp_path)

    assert changed[:2] == ["Datos › Nombre", "Datos › RFC"]
    assert "Plantillas › English › Asunto" in changed
    assert "Plantillas › Español › Asunto" not in changed
    with seeded() as session:
        company = session.get(Company, "SM02")
        assert (company.name, company.clabe, company.cc, company.attach_open_items) == (
            "Soluciones del Bajío", VALID_CLABE, "a@bajio.example;B@bajio.example", True
        )  # fmt: skip
        rows = session.scalars(sa.select(CompanyTemplate).order_by(CompanyTemplate.language))
        assert [(r.language, r.subject, r.text_body) for r in rows] == [
            ("en", "Statement {{ fecha_corte }}", ""),
            ("es", "", ""),
        ]
    (event,) = audits(seeded)
    assert (event.username, event.action, event.entity, event.entity_key) == (
        "root", "company_settings", "company", "SM02"
    )  # fmt: skip
    details = json.loads(event.details)
    assert details["Datos › Nombre"] == {"antes": "Bajío", "despues": "Soluciones del Bajío"}
    assert details["Datos para pago › CLABE"] == {"antes": "", "despues": VALID_CLABE}
    assert details["Plantillas › English › Asunto"] == {
        "antes": "", "despues": "Statement {{ fecha_corte }}"
    }  # fmt: skip
    assert list(details) == changed


def test_grabar_again_with_nothing_changed_writes_no_audit(
    seeded: sessionmaker[Session], tmp_path: Path
) -> None:
    save(seeded, GOOD, tmp_path)
    with seeded() as session:
        again = companies.draft_of(session, "SM02")
    assert again.cc == "a@bajio.example; B@bajio.example"
    assert save(seeded, again, tmp_path) == []
    assert len(audits(seeded)) == 1


def test_nothing_is_saved_when_any_field_fails(
    seeded: sessionmaker[Session], tmp_path: Path
) -> None:
    bad = replace(GOOD, clabe="032180000118359718", logo=image("PNG"))
    with pytest.raises(companies.Refused) as refused:
        save(seeded, bad, tmp_path)
    assert [p.field for p in refused.value.problems] == ["clabe"]
    with seeded() as session:
        assert session.get(Company, "SM02").name == "Bajío"
        assert session.scalar(sa.select(sa.func.count()).select_from(CompanyTemplate)) == 0
    assert audits(seeded) == []
    assert pdf.logo_for(tmp_path, "SM02") is None


def test_a_logo_is_stored_replacing_the_other_kind_then_removed(
    seeded: sessionmaker[Session], tmp_path: Path
) -> None:
    (tmp_path / "logos").mkdir()
    (tmp_path / "logos" / "SM02.jpg").write_bytes(image("JPEG"))
    png = image("PNG")

    assert save(seeded, replace(GOOD, logo=png), tmp_path)[-1] == "Datos › Logotipo"
    assert pdf.logo_for(tmp_path, "SM02") == tmp_path / "logos" / "SM02.png"
    assert (tmp_path / "logos" / "SM02.png").read_bytes() == png
    assert sorted(p.name for p in (tmp_path / "logos").iterdir()) == ["SM02.png"]
    logo_change = json.loads(audits(seeded)[-1].details)["Datos › Logotipo"]
    assert logo_change == {"antes": "JPEG, 1 KB", "despues": "PNG, 1 KB"}

    assert save(seeded, replace(GOOD, remove_logo=True), tmp_path) == ["Datos › Logotipo"]
    assert pdf.logo_for(tmp_path, "SM02") is None
    assert json.loads(audits(seeded)[-1].details) == {
        "Datos › Logotipo": {"antes": "PNG, 1 KB", "despues": ""}
    }


def test_the_preview_uses_the_form_not_the_stored_sociedad(
    seeded: sessionmaker[Session], tmp_path: Path
) -> None:
    draft = replace(
        GOOD,
        bcc="oculto@bajio.example",
        logo=image("PNG"),
        templates={"es": companies.TemplateDraft(subject="Borrador para {{ no_cliente }}")},
    )
    checked = companies.check("SM02", draft)
    options = message.Options(tmp_path, "Estados <estados@app.example>")
    with seeded() as session:
        shown = companies.preview(
            session, checked, "1004273", date(2026, 3, 2), options=options, today=date(2026, 3, 5)
        )
    assert shown.subject == "Borrador para 1004273"
    assert shown.recipients == ("old@y.mx",)
    mail = shown.message
    assert (mail["From"], mail["Reply-To"], mail["Cc"], mail["Bcc"]) == (
        "Cobranza Bajío <Cobranza@bajio.example>", "dudas@bajio.example",
        "a@bajio.example, B@bajio.example", "oculto@bajio.example",
    )  # fmt: skip
    assert "data:image/png;base64," in shown.html_preview
    assert shown.attachments[0] == "1004273_20260305.pdf"
    assert thumbnails.pages(shown.pdf, 0.5)[0].startswith(b"\x89PNG")
    with seeded() as session:
        assert session.get(Company, "SM02").name == "Bajío"
    assert pdf.logo_for(tmp_path, "SM02") is None


def test_the_preview_customer_is_one_in_the_catalog_with_a_balance(
    seeded: sessionmaker[Session],
) -> None:
    with seeded() as session:
        assert companies.sample_customer(session, "SM02") == "1000001"
        assert companies.sample_customer(session, "SM05") is None
    with seeded() as session, session.begin():
        session.add(
            OpenItem(company_code="SM02", customer_no="1004273", doc_no="F-1", doc_type="Factura",
                     doc_date=date(2026, 1, 1), due_date=date(2026, 2, 1), amount=10,
                     open_amount=10, currency="MXN")
        )  # fmt: skip
    with seeded() as session:
        assert companies.sample_customer(session, "SM02") == "1004273"
        assert list(companies.customer_choices(session, "SM02")) == [
            "1000001", "1004273", "1006210"
        ]  # fmt: skip
