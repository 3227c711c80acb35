"""Administración › Sociedades' pieces: the form in tabs, each field's problem under it, and the
preview of one customer's email and PDF as the form would make them.

Widgets are plain (no `st.form`), so every run sees what is typed now: the problems show while
the admin types, and Vista previa renders the values on screen, saved or not.
"""

from __future__ import annotations

from pathlib import Path

import streamlit as st
from streamlit.delta_generator import DeltaGenerator

from lib import companies, formatting, languages, mail_templates, payments
from lib.normalize import InvalidValue
from lib.statements import attachments, message, pdf
from lib.ui import actor, literal, refuse, report, session, settings

Slots = dict[str, DeltaGenerator]
REFERENCE_NAMES = {payments.CUSTOMER_NO: "No. Cliente", payments.TAX_ID: "RFC"}
SAVED = "sociedad-grabada"
# The placeholder list beside the templates scrolls at about the height of the language tab's
# fields, so that Grabar comes right after them.
PLACEHOLDERS_HEIGHT = 640
# The uploaders' own limits, drawn over the app-wide "XLSX, CSV" (lib.ui.UPLOADER_TEXTS).
UPLOADER_LIMITS = {
    "sociedad-logo": f"Hasta {companies.MAX_LOGO_BYTES // (1024 * 1024)} MB · PNG, JPEG",
    "sociedad-facturas": "Archivo ZIP con las facturas",
}


def uploader_limits_style() -> str:
    """A `<style>` with no data in it: each uploader's own limit in place of the app-wide one."""
    rules = [
        f'.st-key-{key} [data-testid="stFileUploaderDropzoneInstructions"] > div::after '
        f'{{ content: "{text}"; }}'
        for key, text in UPLOADER_LIMITS.items()
    ]
    return "<style>\n" + "\n".join(rules) + "\n</style>"


def _key(code: str, name: str) -> str:
    return f"sociedad-{code}-{name}"


def _text(where: DeltaGenerator, slots: Slots, code: str, name: str, value: str, **kw) -> str:
    label = kw.pop("label", None) or companies.FIELDS[name][1]
    typed = where.text_input(label, value=value, key=_key(code, name), **kw)
    slots[name] = where.empty()
    return typed


def form(
    code: str, stored: companies.Draft, *, current_logo: Path | None, invoices: int
) -> tuple[companies.Draft, Slots]:
    """The sociedad's settings in five tabs; the draft as typed, and a slot under each field for
    its problem (filled once the whole form is checked)."""
    slots: Slots = {}
    data, sender, payment, templates, extras = st.tabs(
        [companies.DATOS, companies.REMITENTE, companies.PAGO, companies.PLANTILLAS,
         companies.ADJUNTOS]
    )  # fmt: skip
    with data:
        left, right = st.columns(2)
        name = _text(left, slots, code, "name", stored.name)
        tax_id = _text(right, slots, code, "tax_id", stored.tax_id,
                       help="Puede quedar vacío para una sociedad extranjera.")  # fmt: skip
        address = _text(left, slots, code, "address", stored.address)
        currency = _text(right, slots, code, "currency", stored.currency, max_chars=3)
        logo, remove_logo = _logo(code, slots, current_logo)
    with sender:
        left, right = st.columns(2)
        mail_from = settings().mail_from
        sender_name = _text(left, slots, code, "sender_name", stored.sender_name,
                            help=f"Vacío = el de la configuración ({mail_from}).")  # fmt: skip
        sender_email = _text(right, slots, code, "sender_email", stored.sender_email,
                             help=f"Vacío = el remitente de la configuración "
                             f"({mail_from}).")  # fmt: skip
        reply_to = _text(left, slots, code, "reply_to", stored.reply_to,
                         help="A dónde llegan las respuestas de los clientes; se imprime en "
                         "el estado de cuenta como contacto.")  # fmt: skip
        cc = _text(right, slots, code, "cc", stored.cc, help="Correos separados por ;")
        bcc = _text(left, slots, code, "bcc", stored.bcc,
                    help="Copia oculta: correos separados por ;")  # fmt: skip
    with payment:
        left, right = st.columns(2)
        bank = _text(left, slots, code, "bank", stored.bank)
        account = _text(right, slots, code, "account", stored.account)
        clabe = _text(left, slots, code, "clabe", stored.clabe, help="18 dígitos.")
        reference = right.radio(
            companies.FIELDS["payment_reference"][1],
            list(REFERENCE_NAMES),
            index=list(REFERENCE_NAMES).index(stored.payment_reference),
            format_func=REFERENCE_NAMES.get,
            horizontal=True,
            key=_key(code, "payment_reference"),
        )
        slots["payment_reference"] = right.empty()
    with templates:
        typed = _templates(code, stored.templates, slots)
    with extras:
        attach_open_items = st.checkbox(
            companies.FLAGS["attach_open_items"][1], value=stored.attach_open_items,
            key=_key(code, "attach_open_items"),
        )  # fmt: skip
        attach_invoices = st.checkbox(
            companies.FLAGS["attach_invoices"][1], value=stored.attach_invoices,
            key=_key(code, "attach_invoices"),
        )  # fmt: skip
        _invoices(code, invoices)
    draft = companies.Draft(
        name=name, tax_id=tax_id, address=address, currency=currency, sender_name=sender_name,
        sender_email=sender_email, reply_to=reply_to, cc=cc, bcc=bcc, bank=bank, account=account,
        clabe=clabe, payment_reference=reference, attach_open_items=attach_open_items,
        attach_invoices=attach_invoices, templates=typed, logo=logo, remove_logo=remove_logo,
    )  # fmt: skip
    return draft, slots


def _logo(code: str, slots: Slots, current: Path | None) -> tuple[bytes | None, bool]:
    generation = st.session_state.get(f"logo-gen-{code}", 0)
    has_logo = current is not None
    if current is not None:
        st.image(str(current), caption="Logotipo actual", width=160)
    with st.container(key="sociedad-logo"):
        upload = st.file_uploader(
            "Logotipo",
            type=["png", "jpg", "jpeg"],
            help="PNG o JPEG de hasta 1 MB; se imprime en el estado de cuenta y en el correo.",
            key=f"{_key(code, 'logo')}-{generation}",
        )
    slots["logo"] = st.empty()
    remove = st.checkbox(
        "Quitar logotipo",
        disabled=not has_logo,
        help="Al grabar se borra el logotipo de la sociedad."
        if has_logo
        else "La sociedad no tiene logotipo.",
        key=f"{_key(code, 'quitar-logo')}-{generation}",
    )
    return (upload.getvalue() if upload is not None else None), remove


def _invoices(code: str, invoices: int) -> None:
    """The ZIP of invoices is loaded on its own button, not with Grabar: it fills a folder the
    send reads, whatever the form says."""
    st.caption(
        f"{formatting.count(invoices, 'factura cargada', 'facturas cargadas')}. Un ZIP con "
        "archivos .pdf y .xml nombrados por su número de documento o folio fiscal; un archivo "
        "del mismo nombre se reemplaza."
    )
    generation = st.session_state.get(f"zip-gen-{code}", 0)
    with st.container(key="sociedad-facturas"):
        upload = st.file_uploader(
            "Facturas (ZIP)", type=["zip"], key=f"{_key(code, 'zip')}-{generation}"
        )
    if st.button("Cargar facturas", disabled=upload is None, icon=":material/upload:"):
        assert upload is not None
        try:
            with session() as current, current.begin(), st.spinner("Guardando las facturas…"):
                stored = companies.load_invoices(
                    current, code, upload.getvalue(), data_dir=settings().data_dir, by=actor()
                )
        except InvalidValue as exc:
            refuse(exc)
            return
        st.session_state[f"zip-gen-{code}"] = generation + 1
        report(True, stored.note)


def invoice_count(code: str) -> int:
    return attachments.invoice_count(settings().data_dir, code)


def _templates(
    code: str, stored: dict[str, companies.TemplateDraft], slots: Slots
) -> dict[str, companies.TemplateDraft]:
    st.caption("Cada campo vacío usa la plantilla predeterminada.")
    typed = {}
    fields, placeholders = st.columns([2, 1])
    for tab, language in zip(
        fields.tabs(list(languages.NAMES.values())), languages.NAMES, strict=True
    ):
        with tab:
            current = stored.get(language, companies.TemplateDraft())
            st.button(
                "Empezar desde la predeterminada",
                key=_key(code, f"{language}-default"),
                on_click=_fill_defaults,
                args=(code, language),
                help="Copia la plantilla predeterminada en los campos vacíos, para cambiarla.",
            )
            parts = {}
            for part, label in companies.TEMPLATE_PARTS.items():
                widget = st.text_input if part == "subject" else st.text_area
                extra = {} if part == "subject" else {"height": 200}
                parts[part] = widget(
                    label,
                    value=getattr(current, part),
                    placeholder="Plantilla predeterminada",
                    key=_key(code, f"{language}-{part}"),
                    **extra,
                )
                slots[f"templates.{language}.{part}"] = st.empty()
            typed[language] = companies.TemplateDraft(**parts)
    with placeholders:
        st.markdown("**Datos que puedes usar**")
        # A list, not a table: a narrow column broke `{{ sociedad_codigo }}` over three lines.
        st.container(height=PLACEHOLDERS_HEIGHT, border=False).markdown(
            "\n".join(
                f"- `{{{{ {key} }}}}` — {literal(meaning)}"
                for key, meaning in mail_templates.PLACEHOLDERS.items()
            )
        )
    return typed


def _fill_defaults(code: str, language: str) -> None:
    defaults = message.default_template(language)
    for part in companies.TEMPLATE_PARTS:
        key = _key(code, f"{language}-{part}")
        if not str(st.session_state.get(key) or "").strip():
            st.session_state[key] = getattr(defaults, part)


def save_button(code: str, draft: companies.Draft, checked: companies.Checked) -> None:
    """Grabar, with what it did right under it: the form is long, and a notice on top of the
    page would be out of view."""
    if st.button("Grabar", type="primary", icon=":material/save:"):
        if not checked.ok:
            problem_list(checked, "No se grabó nada; corrige esto primero:")
            return
        try:
            with session() as current, current.begin():
                changed = companies.save(
                    current, code, draft, data_dir=settings().data_dir, by=actor()
                )
        except InvalidValue as exc:
            refuse(exc)
            return
        st.session_state[f"logo-gen-{code}"] = st.session_state.get(f"logo-gen-{code}", 0) + 1
        st.session_state[SAVED] = (
            f"Sociedad {code} grabada. Cambió: {', '.join(changed)}."
            if changed
            else f"Sociedad {code} grabada; no había cambios."
        )
        st.rerun()
    if saved := st.session_state.pop(SAVED, None):
        st.success(literal(saved))


def problems(checked: companies.Checked, slots: Slots) -> None:
    """Each problem under its own field."""
    for problem in checked.problems:
        slots[problem.field].error(literal(formatting.sentence(problem.text)))


def problem_list(checked: companies.Checked, heading: str) -> None:
    """Every problem at once, each with its tab: some are on tabs not in view."""
    lines = "\n".join(f"- {literal(p.located)}" for p in checked.problems)
    st.error(f"{heading}\n\n{lines}")


def stored_logo(code: str) -> Path | None:
    return pdf.logo_for(settings().data_dir, code)
