"""Deliver composed e-mails: by SMTP (STARTTLS, SSL or plain; password from the environment) or into a folder.

Errors never carry the password: smtplib's messages are the server's replies, and ours name host and user only.
"""

from __future__ import annotations

import re
import smtplib
import ssl
from collections.abc import Sequence
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path

from auditor.ops.settings import SmtpSettings


class MailError(RuntimeError):
    """The SMTP server could not be reached or refused the login; nothing was sent."""


@dataclass
class Delivery:
    """What happened to each message, by recipient owner: sent, written to a file, or failed with a reason."""

    sent: list[str] = field(default_factory=list)
    written: list[Path] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)


def owner_of(message: EmailMessage) -> str:
    return str(message.get("X-Auditor-Owner", message["To"]))


def send_messages(messages: Sequence[EmailMessage], smtp: SmtpSettings) -> Delivery:
    """Send every message over one SMTP connection; a refused message is recorded and the rest still go."""
    delivery = Delivery()
    if not messages:
        return delivery
    try:
        client = _connect(smtp)
    except (OSError, smtplib.SMTPException) as exc:
        raise MailError(f"cannot send through {smtp.host}:{smtp.resolved_port} ({smtp.tls}): {_reason(exc)}") from None
    with client:
        for message in messages:
            try:
                client.send_message(message)
            except (OSError, smtplib.SMTPException) as exc:
                delivery.failed[owner_of(message)] = _reason(exc)
            else:
                delivery.sent.append(owner_of(message))
    return delivery


def write_messages(messages: Sequence[EmailMessage], folder: Path, prefix: str = "") -> Delivery:
    """Write each message as `<prefix><owner>.eml` into a folder (a dry run: nothing is sent)."""
    folder.mkdir(parents=True, exist_ok=True)
    delivery = Delivery()
    for message in messages:
        path = folder / f"{prefix}{_slug(owner_of(message))}.eml"
        path.write_bytes(message.as_bytes())
        delivery.written.append(path)
    return delivery


def _connect(smtp: SmtpSettings) -> smtplib.SMTP:
    context = ssl.create_default_context()
    port = smtp.resolved_port
    client: smtplib.SMTP
    if smtp.tls == "ssl":
        client = smtplib.SMTP_SSL(smtp.host, port, timeout=smtp.timeout, context=context)
    else:
        client = smtplib.SMTP(smtp.host, port, timeout=smtp.timeout)
    try:
        client.ehlo()
        if smtp.tls == "starttls":
            client.starttls(context=context)
            client.ehlo()
        if smtp.user:
            password = smtp.password()
            if password is None:
                raise MailError(f"SMTP user {smtp.user!r} is set but AUDITOR_SMTP_PASSWORD is not")
            client.login(smtp.user, password)
    except BaseException:
        client.close()
        raise
    return client


def _reason(exc: BaseException) -> str:
    if isinstance(exc, smtplib.SMTPResponseException):
        text = exc.smtp_error.decode(errors="replace") if isinstance(exc.smtp_error, bytes) else str(exc.smtp_error)
        return f"{exc.smtp_code} {text}"
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        return "; ".join(f"{who}: {code} {msg!r}" for who, (code, msg) in exc.recipients.items())
    return str(exc) or type(exc).__name__


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._@-]+", "-", text).strip("-") or "owner"
