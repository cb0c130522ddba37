"""Mail gateways against a real SMTP server (aiosmtpd on loopback) and a real folder."""
from __future__ import annotations

import email
from datetime import datetime
from email import policy
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from gateways.mail import Mail, MailRejected, MailUnavailable, build_mime, clean_header
from gateways.outbox_folder import OutboxFolder
from gateways.smtp import SmtpGateway

PARIS = ZoneInfo("Europe/Paris")
PDF = b"%PDF-1.4\n% compte rendu bimestriel n\xc2\xb02\n%%EOF\n"
TEXT = ("Madame, Monsieur,\n\nSauf erreur de notre part, le compte rendu bimestriel n°2 "
        "attendu le vendredi 12 avril 2019 ne nous est pas parvenu.\n\nÀ bientôt,\n"
        "Communauté d'agglomération du Saint-Quentinois\n")
HTML = ("<p>Madame, Monsieur,</p><p>Sauf erreur de notre part, le compte rendu bimestriel "
        "n°2 attendu le <strong>vendredi 12 avril 2019</strong> ne nous est pas parvenu.</p>")


def body(msg, kind: str) -> str:
    """A body part's text; line ends as the wire carries them (CRLF) are normalised."""
    return msg.get_body((kind,)).get_content().replace("\r\n", "\n")


def fixed_clock() -> datetime:
    return datetime(2019, 4, 15, 9, 0, tzinfo=PARIS)


@pytest.fixture
def attachment(tmp_path: Path) -> Path:
    path = tmp_path / "relevé-échéances.pdf"
    path.write_bytes(PDF)
    return path


@pytest.fixture
def mail(attachment: Path) -> Mail:
    return Mail(
        message_id="<reminder-123-late_7@grantflow>",
        sender="Communauté d'agglomération du Saint-Quentinois <subventions@agglo-sq.fr>",
        to=("Faubourg Numérique <contact@faubourg-numerique.fr>",),
        cc=("tresorier@faubourg-numerique.fr",),
        subject="Relance : compte rendu bimestriel n°2 en retard de 3 jours",
        text=TEXT,
        html=HTML,
        attachments=(attachment,),
    )


def gateway_for(server, **kwargs) -> SmtpGateway:
    return SmtpGateway(host=server.host, port=server.port, sender="retours@agglo-sq.fr",
                       timeout=5, clock=fixed_clock, **kwargs)


def another(mail: Mail, n: int) -> Mail:
    return Mail(message_id=f"<reminder-{n}-before@grantflow>", sender=mail.sender, to=mail.to,
                subject=f"Rappel {n}", text=mail.text, html=mail.html)


# ----------------------------------------------------------------- SMTP: delivery


def test_french_mail_arrives_intact_with_one_message_id_and_attachment(smtp_server, mail):
    gateway_for(smtp_server).send(mail)

    assert len(smtp_server.messages) == 1
    got = smtp_server.messages[0]
    assert got.get_all("Message-ID") == ["<reminder-123-late_7@grantflow>"]
    assert got["Subject"] == "Relance : compte rendu bimestriel n°2 en retard de 3 jours"
    assert got["From"] == "Communauté d'agglomération du Saint-Quentinois <subventions@agglo-sq.fr>"
    assert got["To"] == "Faubourg Numérique <contact@faubourg-numerique.fr>"
    assert got["Cc"] == "tresorier@faubourg-numerique.fr"
    assert got["Date"] == "Mon, 15 Apr 2019 09:00:00 +0200"
    assert body(got, "plain") == TEXT
    assert body(got, "html").strip() == HTML
    [part] = list(got.iter_attachments())
    assert part.get_filename() == "relevé-échéances.pdf"
    assert part.get_content_type() == "application/pdf"
    assert part.get_content() == PDF

    envelope = smtp_server.envelopes[0]
    assert envelope.mail_from == "retours@agglo-sq.fr"
    assert envelope.rcpt_tos == ("contact@faubourg-numerique.fr", "tresorier@faubourg-numerique.fr")


def test_a_batch_uses_one_connection_and_single_sends_their_own(smtp_server, mail):
    gateway = gateway_for(smtp_server)
    with gateway:
        for n in range(3):
            gateway.send(another(mail, n))
    assert smtp_server.connections == 1

    smtp_server.clear()
    for n in range(3):
        gateway.send(another(mail, n))
    assert smtp_server.connections == 3
    assert [m["Subject"] for m in smtp_server.messages] == ["Rappel 0", "Rappel 1", "Rappel 2"]


# ----------------------------------------------------------------- SMTP: failures


def test_server_down_is_retryable_and_nothing_is_lost(smtp_server, mail):
    smtp_server.stop()
    with pytest.raises(MailUnavailable) as caught:
        gateway_for(smtp_server).send(mail)
    assert not isinstance(caught.value, MailRejected)
    assert caught.value.message_id == "<reminder-123-late_7@grantflow>"

    smtp_server.start()
    gateway_for(smtp_server).send(mail)
    assert [m["Message-ID"] for m in smtp_server.messages] == ["<reminder-123-late_7@grantflow>"]


def test_server_stopped_mid_batch_then_back_on_the_same_port(smtp_server, mail):
    gateway = gateway_for(smtp_server)
    with gateway:
        gateway.send(another(mail, 1))
        smtp_server.stop()
        with pytest.raises(MailUnavailable):
            gateway.send(another(mail, 2))
        with pytest.raises(MailUnavailable):  # still down: refused at connect time
            gateway.send(another(mail, 2))
        smtp_server.start()
        gateway.send(another(mail, 2))  # the gateway reconnects by itself
    assert [m["Subject"] for m in smtp_server.messages] == ["Rappel 1", "Rappel 2"]


def test_a_connection_dropped_while_idle_is_replaced_without_failing_a_message(smtp_server, mail):
    gateway = gateway_for(smtp_server, idle_check_after=0)
    with gateway:
        gateway.send(another(mail, 1))
        smtp_server.stop()  # the server closes our idle connection...
        smtp_server.start()  # ...and is back before the next message
        gateway.send(another(mail, 2))
    assert [m["Subject"] for m in smtp_server.messages] == ["Rappel 1", "Rappel 2"]
    assert smtp_server.connections == 2


def test_permanent_refusal_of_the_recipient_is_rejected(smtp_server, mail):
    smtp_server.refuse("contact@faubourg-numerique.fr", "550 5.1.1 Destinataire inconnu")
    smtp_server.refuse("tresorier@faubourg-numerique.fr", "550 5.1.1 Destinataire inconnu")
    with pytest.raises(MailRejected) as caught:
        gateway_for(smtp_server).send(mail)
    assert caught.value.smtp_code == 550
    assert caught.value.refused == {
        "contact@faubourg-numerique.fr": (550, "5.1.1 Destinataire inconnu"),
        "tresorier@faubourg-numerique.fr": (550, "5.1.1 Destinataire inconnu"),
    }
    assert smtp_server.messages == []


def test_temporary_refusal_is_retryable(smtp_server, mail):
    smtp_server.refuse("contact@faubourg-numerique.fr", "450 4.2.1 Boite pleine, reessayez")
    smtp_server.refuse("tresorier@faubourg-numerique.fr", "451 4.3.0 Reessayez plus tard")
    with pytest.raises(MailUnavailable) as caught:
        gateway_for(smtp_server).send(mail)
    assert not isinstance(caught.value, MailRejected)
    assert caught.value.smtp_code == 450


def test_partly_refused_mail_is_final_and_says_who_has_it(smtp_server, mail):
    smtp_server.refuse("tresorier@faubourg-numerique.fr")
    with pytest.raises(MailRejected) as caught:
        gateway_for(smtp_server).send(mail)
    assert caught.value.delivered_to == ("contact@faubourg-numerique.fr",)
    assert list(caught.value.refused) == ["tresorier@faubourg-numerique.fr"]
    assert smtp_server.envelopes[0].rcpt_tos == ("contact@faubourg-numerique.fr",)


def test_a_batch_goes_on_after_a_rejected_message(smtp_server, mail):
    smtp_server.refuse("inconnu@faubourg-numerique.fr")
    bad = Mail(message_id="<bad@grantflow>", sender=mail.sender,
               to=("inconnu@faubourg-numerique.fr",), subject="x", text="x", html="x")
    gateway = gateway_for(smtp_server)
    with gateway:
        with pytest.raises(MailRejected):
            gateway.send(bad)
        gateway.send(another(mail, 9))
    assert [m["Subject"] for m in smtp_server.messages] == ["Rappel 9"]
    assert smtp_server.connections == 1


def test_invalid_address_is_rejected_before_any_connection(smtp_server, mail):
    bad = Mail(message_id="<x-1@grantflow>", sender=mail.sender, to=("contact@",),
               subject="x", text="x", html="x")
    with pytest.raises(MailRejected, match="adresse"):
        gateway_for(smtp_server).send(bad)
    assert smtp_server.envelopes == []


def test_login_refused_by_the_server_is_retryable_and_hides_the_password(smtp_server, mail):
    # aiosmtpd here offers no AUTH: as with a misconfigured relay, the message must stay
    # queued, and neither the error nor the gateway's repr may show the password.
    gateway = gateway_for(smtp_server, user="subventions", password="s3cr3t-Pa55")
    with pytest.raises(MailUnavailable) as caught:
        gateway.send(mail)
    assert "s3cr3t-Pa55" not in str(caught.value)
    assert "s3cr3t-Pa55" not in repr(gateway)
    assert "subventions" in repr(gateway)


# ----------------------------------------------------------------- header injection


def test_line_breaks_in_subject_and_names_add_no_header(smtp_server, mail):
    attack = Mail(
        message_id="<inject-1@grantflow>",
        sender="Agglo\r\nBcc: pirate@evil.example <subventions@agglo-sq.fr>",
        to=("Faubourg\nX-Injected: oui <contact@faubourg-numerique.fr>",),
        subject="Rappel\r\nBcc: pirate@evil.example\r\n\r\nCorps injecté",
        text="x", html="<p>x</p>",
    )
    gateway_for(smtp_server).send(attack)

    got = smtp_server.messages[0]
    assert got["Bcc"] is None and got["X-Injected"] is None
    assert got["Subject"] == "Rappel Bcc: pirate@evil.example Corps injecté"
    assert body(got, "plain") == "x\n"
    assert smtp_server.envelopes[0].rcpt_tos == ("contact@faubourg-numerique.fr",)


def test_clean_header_removes_every_kind_of_line_break():
    assert clean_header(" a\r\nb\nc\rd\u2028e\x0bf\x00g ") == "a b c d e fg"


# ----------------------------------------------------------------- the Mail value


def test_mail_refuses_a_message_id_without_brackets_or_domain():
    with pytest.raises(ValueError, match="message_id"):
        Mail(message_id="reminder-1", sender="a@b.fr", to=("c@d.fr",), subject="s", text="t", html="h")
    with pytest.raises(ValueError, match="to"):
        Mail(message_id="<r@g>", sender="a@b.fr", to=(), subject="s", text="t", html="h")


def test_mail_takes_lists_but_holds_tuples():
    m = Mail(message_id="<r@g>", sender="a@b.fr", to=["c@d.fr"], cc=["e@f.fr"],
             subject="s", text="t", html="h", attachments=["/tmp/x.pdf"])
    assert m.to == ("c@d.fr",) and m.cc == ("e@f.fr",) and m.attachments == (Path("/tmp/x.pdf"),)
    assert hash(m)


# ----------------------------------------------------------------- outbox folder


def test_outbox_writes_one_eml_per_message_id(tmp_path, mail):
    outbox = OutboxFolder(tmp_path / "outbox", clock=fixed_clock)
    with outbox:
        outbox.send(mail)
        outbox.send(mail)  # a re-run sends the same message again

    files = sorted(p.name for p in (tmp_path / "outbox").iterdir())
    assert files == ["reminder-123-late_7@grantflow.eml"]
    raw = (tmp_path / "outbox" / files[0]).read_bytes()
    got = email.message_from_bytes(raw, policy=policy.default)
    assert got.get_all("Message-ID") == ["<reminder-123-late_7@grantflow>"]
    assert got["Subject"] == "Relance : compte rendu bimestriel n°2 en retard de 3 jours"
    assert got["To"] == "Faubourg Numérique <contact@faubourg-numerique.fr>"
    assert body(got, "plain") == TEXT
    assert [p.get_content() for p in got.iter_attachments()] == [PDF]
    assert b"\r\n" in raw  # RFC 5322 line ends


def test_outbox_keeps_ids_apart_even_when_their_file_names_are_sanitised(tmp_path, mail):
    outbox = OutboxFolder(tmp_path / "outbox")
    for mid in ("<a/b@grantflow>", "<a_b@grantflow>", "<a:b@grantflow>"):
        outbox.send(Mail(message_id=mid, sender=mail.sender, to=mail.to, subject="s",
                         text="t", html="h"))
    names = sorted(p.name for p in (tmp_path / "outbox").iterdir())
    assert len(names) == 3
    assert "a_b@grantflow.eml" in names
    assert all(name.endswith(".eml") and "/" not in name for name in names)


def test_outbox_and_smtp_send_the_same_message(tmp_path, smtp_server, mail):
    OutboxFolder(tmp_path, clock=fixed_clock).send(mail)
    gateway_for(smtp_server).send(mail)
    from_file = email.message_from_bytes(
        (tmp_path / "reminder-123-late_7@grantflow.eml").read_bytes(), policy=policy.default)
    from_smtp = smtp_server.messages[0]
    for header in ("Message-ID", "Date", "From", "To", "Cc", "Subject"):
        assert from_file[header] == from_smtp[header], header
    assert body(from_file, "plain") == body(from_smtp, "plain") == TEXT


def test_build_mime_is_multipart_alternative_with_attachment(mail):
    msg = build_mime(mail)
    assert msg.get_content_type() == "multipart/mixed"
    assert [p.get_content_type() for p in msg.walk()] == [
        "multipart/mixed", "multipart/alternative", "text/plain", "text/html", "application/pdf"]
    assert msg["Date"] is None  # no date given: none invented


def test_missing_attachment_is_rejected(tmp_path, mail):
    gone = Mail(message_id=mail.message_id, sender=mail.sender, to=mail.to, subject="s",
                text="t", html="h", attachments=(tmp_path / "absent.pdf",))
    with pytest.raises(MailRejected, match="pièce jointe"):
        OutboxFolder(tmp_path / "out").send(gone)
