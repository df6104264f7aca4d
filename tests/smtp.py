"""A real SMTP server on loopback for the digest tests (aiosmtpd), recording every message and login."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from dataclasses import dataclass, field
from email import message_from_bytes
from email import policy as email_policy
from email.message import EmailMessage
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

SMTP_USER = "audit-bot"


@dataclass
class Received:
    """One message as the server got it: envelope sender and recipients, and the parsed message."""

    mail_from: str
    rcpt_tos: list[str]
    message: EmailMessage


@dataclass
class SmtpServer:
    """The running server: its port, the password it accepts, what it received and who logged in."""

    port: int
    password: str
    received: list[Received] = field(default_factory=list)
    logins: list[str] = field(default_factory=list)

    def settings(self) -> dict[str, str]:
        """The environment that points `auditor` at this server (plain SMTP on loopback, with a login)."""
        return {
            "AUDITOR_SMTP_HOST": "127.0.0.1",
            "AUDITOR_SMTP_PORT": str(self.port),
            "AUDITOR_SMTP_TLS": "none",
            "AUDITOR_SMTP_USER": SMTP_USER,
            "AUDITOR_SMTP_PASSWORD": self.password,
        }


class _Handler:
    def __init__(self, server: SmtpServer) -> None:
        self.server = server

    async def handle_DATA(self, _server: Any, _session: Any, envelope: Any) -> str:
        message = message_from_bytes(envelope.original_content, policy=email_policy.default)
        self.server.received.append(Received(envelope.mail_from, list(envelope.rcpt_tos), message))  # type: ignore[arg-type]
        return "250 OK"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def smtp_server() -> Iterator[SmtpServer]:
    """An SMTP server on 127.0.0.1 that requires a login (audit-bot and a random password) before mail."""
    server = SmtpServer(_free_port(), f"pw-{socket.gethostname()[:4]}-{id(object()):x}-S3cr3t")

    def authenticate(_srv: Any, _session: Any, _envelope: Any, mechanism: str, data: Any) -> AuthResult:
        ok = isinstance(data, LoginPassword) and data.login.decode() == SMTP_USER
        ok = ok and data.password.decode() == server.password
        if ok:
            server.logins.append(mechanism)
        return AuthResult(success=ok, handled=False)  # handled=False: aiosmtpd answers 535 on failure

    controller = Controller(
        _Handler(server),
        hostname="127.0.0.1",
        port=server.port,
        authenticator=authenticate,
        auth_required=True,
        auth_require_tls=False,
    )
    controller.start()
    try:
        yield server
    finally:
        controller.stop()
