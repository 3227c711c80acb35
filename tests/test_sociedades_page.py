"""Administración › Sociedades through AppTest: who sees it, Grabar, its problems, the preview."""

from __future__ import annotations

import io
import json
import re
import zipfile
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session, sessionmaker
from streamlit.testing.v1 import AppTest

from lib.models import AuditEvent, Company, CompanyTemplate
from tests.support import seed_catalog
from tests.test_companies import image
from tests.test_pages import start
from tests.test_security import open_url


def click(at: AppTest, label: str) -> AppTest:
    next(b for b in at.button if b.label == label).click()
    return at.run()


def field(at: AppTest, name: str):
    key = f"sociedad-SM02-{name}"
    return at.text_area(key=key) if name.endswith("_body") else at.text_input(key=key)


def texts(elements) -> list[str]:
    return [e.value for e in elements]


@pytest.fixture
def page(people: dict[str, str], database: sessionmaker[Session]) -> AppTest:
    seed_catalog(database)
    at = start("pages/sociedades.py", user="root")
    assert not at.exception
    return at


def test_an_admin_sees_the_sociedad_in_tabs(page: AppTest) -> None:
    assert texts(page.title) == ["Sociedades"]
    assert page.selectbox(key="sociedad").value == "SM02"
    assert [t.label for t in page.tabs] == [
        "Datos", "Remitente", "Datos para pago", "Plantillas", "Español", "English", "Adjuntos"
    ]  # fmt: skip
    assert field(page, "name").value == "Bajío"
    assert "Las sociedades se dan de alta y se borran con la importación de **Datos**" in (
        page.caption[0].value
    )
    assert "0 facturas cargadas" in " ".join(texts(page.caption))
    assert not page.error


def test_an_analista_does_not_get_the_page(people, database) -> None:
    seed_catalog(database)
    at = open_url("sociedades", user="ana")
    assert not at.exception
    assert texts(at.warning) == ["No tienes acceso a esta página. Elige una opción del menú."]
    assert not at.title
    assert not at.text_input


def test_grabar_saves_the_change_and_audits_it(page: AppTest, database) -> None:
    field(page, "name").input("Soluciones del Bajío")
    field(page, "cc").input("a@bajio.example, b@bajio.example")
    field(page, "en-subject").input("Statement {{ fecha_corte }}")
    click(page, "Grabar")

    assert not page.exception
    assert texts(page.success) == [
        "Sociedad SM02 grabada. Cambió: Datos › Nombre, Remitente › CC, "
        "Plantillas › English › Asunto."
    ]
    assert field(page, "cc").value == "a@bajio.example, b@bajio.example"
    with database() as session:
        company = session.get(Company, "SM02")
        assert (company.name, company.cc) == (
            "Soluciones del Bajío",
            "a@bajio.example;b@bajio.example",
        )
        assert session.get(CompanyTemplate, ("SM02", "en")).subject == "Statement {{ fecha_corte }}"
        (event,) = session.scalars(sa.select(AuditEvent).where(AuditEvent.entity == "company"))
    assert (event.username, event.entity_key) == ("root", "SM02")
    assert json.loads(event.details)["Datos › Nombre"] == {
        "antes": "Bajío", "despues": "Soluciones del Bajío"
    }  # fmt: skip


def test_a_problem_shows_under_its_field_and_blocks_grabar(page: AppTest, database) -> None:
    field(page, "name").input("Otro nombre")
    field(page, "en-html_body").input("<p>Dear {{ cliente }},</p>\n<p>{{ saldo_total }}</p>")
    field(page, "clabe").input("032180000118359718")
    page.run()
    under = texts(page.error)
    assert "CLABE '032180000118359718' no válida: el dígito verificador no coincide." in under
    assert any(
        e.startswith("Línea 2: «{{ saldo\\_total }}» no es un dato disponible") for e in under
    )

    click(page, "Grabar")
    listed = page.error[-1].value
    assert listed.startswith("No se grabó nada; corrige esto primero:")
    assert "- Datos para pago › CLABE '032180000118359718' no válida" in listed
    assert "- Plantillas › English › Cuerpo HTML — Línea 2: «{{ saldo\\_total }}»" in listed
    assert not page.success
    with database() as session:
        assert session.get(Company, "SM02").name == "Bajío"
        assert not session.scalars(
            sa.select(AuditEvent).where(AuditEvent.entity == "company")
        ).all()


def test_the_preview_shows_the_draft_before_grabar(page: AppTest, database) -> None:
    field(page, "es-subject").input("Borrador {{ no_cliente }} de {{ sociedad }}")
    field(page, "reply_to").input("dudas@bajio.example")
    page.selectbox(key="sociedad-cliente-SM02").select("1004273")
    click(page, "Vista previa")

    assert not page.exception
    headers = next(m.value for m in page.markdown if m.value.startswith("**De:**"))
    assert "**Asunto:** Borrador 1004273 de Bajío" in headers
    assert "**Responder a:** dudas@bajio.example" in headers
    assert "**Para:** old@y.mx" in headers
    assert "**Adjuntos:** 1004273\\_" in headers
    [download] = page.get("download_button")
    assert re.fullmatch(r"Descargar 1004273_\d{8}\.pdf", download.label)
    assert [i.captions for i in page.get("image")] == [["Página 1 de 1"]]
    assert not page.info  # the preview is of what the form says now
    with database() as session:
        assert session.get(CompanyTemplate, ("SM02", "es")) is None

    field(page, "es-subject").input("Otro asunto")
    page.run()
    assert texts(page.info) == [
        "Cambiaste el formulario después de esta vista previa; pulsa **Vista previa**."
    ]


def test_a_problem_means_no_preview(page: AppTest) -> None:
    field(page, "sender_email").input("cobranza@")
    click(page, "Vista previa")
    assert page.error[-1].value.startswith("No hay vista previa hasta corregir esto:")
    assert "Remitente › Correo del remitente: correo no válido: 'cobranza@'" in (
        page.error[-1].value
    )
    assert not page.get("download_button")


def test_a_logo_uploaded_is_saved_with_grabar_then_removed(page: AppTest, app_env) -> None:
    logos = Path(app_env["DATA_DIR"]) / "logos"
    logo, _ = page.get("file_uploader")
    logo.set_value(("logo.png", image("PNG"), "image/png"))
    click(page, "Grabar")
    assert texts(page.success) == ["Sociedad SM02 grabada. Cambió: Datos › Logotipo."]
    assert [p.name for p in logos.iterdir()] == ["SM02.png"]
    assert [i.captions for i in page.get("image")] == [["Logotipo actual"]]

    page.checkbox(key="sociedad-SM02-quitar-logo-1").check()
    click(page, "Grabar")
    assert texts(page.success) == ["Sociedad SM02 grabada. Cambió: Datos › Logotipo."]
    assert list(logos.iterdir()) == []


def test_a_logo_that_is_not_an_image_is_refused_under_its_field(page: AppTest, app_env) -> None:
    logo, _ = page.get("file_uploader")
    logo.set_value(("logo.png", b"GIF89a no", "image/png"))
    page.run()
    assert texts(page.error) == ["No es una imagen PNG ni JPEG."]
    assert not (Path(app_env["DATA_DIR"]) / "logos").exists()


def test_a_zip_of_invoices_is_loaded_and_counted(page: AppTest, app_env, database) -> None:
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as zipped:
        zipped.writestr("F-1001.pdf", b"%PDF-1.4 factura")
        zipped.writestr("F-1001.xml", b"<cfdi/>")
        zipped.writestr("notas.txt", b"no")
    _, invoices = page.get("file_uploader")
    invoices.set_value(("facturas.zip", archive.getvalue(), "application/zip"))
    page.run()
    click(page, "Cargar facturas")

    assert texts(page.success) == [
        "Se guardaron 2 facturas. Omitidos (solo se guardan archivos .pdf y .xml, uno por "
        "nombre): notas.txt."
    ]
    assert "2 facturas cargadas" in " ".join(texts(page.caption))
    with database() as session:
        (event,) = session.scalars(sa.select(AuditEvent).where(AuditEvent.entity == "company"))
    assert (event.action, json.loads(event.details)) == (
        "invoice_upload", {"guardadas": 2, "omitidos": ["notas.txt"]}
    )  # fmt: skip


def test_empezar_desde_la_predeterminada_fills_only_the_empty_fields(page: AppTest) -> None:
    field(page, "en-subject").input("Statement {{ no_cliente }}")
    page.button(key="sociedad-SM02-en-default").click()
    page.run()
    assert field(page, "en-subject").value == "Statement {{ no_cliente }}"
    assert field(page, "en-text_body").value.startswith("Dear {{ cliente }}:")
    assert field(page, "en-html_body").value.startswith("{#- The default HTML body (English)")
    assert field(page, "es-text_body").value == ""
    assert not [e for e in page.error if "Línea" in e.value]
