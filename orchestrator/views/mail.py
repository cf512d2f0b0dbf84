"""The nightly's report as a mail to a kernel list, in the 0-day robot's manner: plain text first, the
HTML page attached. `compose` is pure; `send` is the one place that talks SMTP.

Headers are built by the `email` package from single-line values: a commit subject holding a newline
cannot add a header.
"""

from __future__ import annotations

import os
import smtplib
import ssl
from datetime import datetime
from email import policy
from email.message import EmailMessage
from email.utils import format_datetime, getaddresses, make_msgid
from pathlib import Path

from ..errors import MailError, UserError
from ..inert import inert, inert_text
from ..models import Commit, MailSettings, Nightly, RootCause

SUBJECT_ROOM = 160  # characters of a subject line; the rest is in the body
# The email package folds a header longer than 78 characters before its first word ("Subject:\n [kvm:…"),
# which some readers show with the break; a line of up to 998 is within RFC 5322 and kept whole.
HEADERS_UNFOLDED = policy.default.clone(max_line_length=998)


def subject(nightly: Nightly) -> str:
    """`[linux:next] 1 regression: arm64-gcc-defconfig+kvm, riscv-gcc-defconfig+kvm NEW FAIL at 0125b1458cbf "KVM: x86: …"`."""
    regressed = [b for b in nightly.branches if b.causes]
    named = regressed or nightly.branches
    tags = "[" + ", ".join(f"{b.tree}:{b.branch}" for b in named) + "]"
    causes = [cause for b in regressed for cause in b.causes]
    if causes:
        first = causes[0]
        more = f" (and {len(causes) - 1} more)" if len(causes) > 1 else ""
        count = f"{len(causes)} regression{'s' if len(causes) != 1 else ''}"
        what = f"{count}: {', '.join(first.cells)} {first.kind} {_where(first)}{more}"
    else:
        what = "no regressions"
    failed = [b for b in nightly.branches if b.infra]
    if failed:
        what += "; infrastructure errors in " + ", ".join(f"{b.tree}:{b.branch}" for b in failed)
    line = _one_line(f"{tags} {what}")
    return line if len(line) <= SUBJECT_ROOM else line[: SUBJECT_ROOM - 1] + "…"


def _first_bad_commit(cause: RootCause) -> Commit | None:
    """The commit bisection named for the cause, when it named one and the store knows it."""
    began = cause.began_at
    return next((a.commits[began] for a in cause.first_bad if began in a.commits), None) if began else None


def _where(cause: RootCause) -> str:
    """`since <first bad commit> "subject"` when bisection named one, else `at <commit> "subject"`."""
    commit = _first_bad_commit(cause)
    if commit is not None:
        return f'since {commit.sha[:12]} "{commit.subject}"'
    return f'at {cause.sha[:12]} "{cause.subject}"'


def authors(nightly: Nightly) -> list[str]:
    """Who wrote each regression's first bad commit (bisection's answer, else the commit it was seen at)."""
    found: list[str] = []
    for branch in nightly.branches:
        for cause in branch.causes:
            author = _first_bad_author(cause)
            if author and author not in found:
                found.append(author)
    return found


def _first_bad_author(cause: RootCause) -> str:
    commit = _first_bad_commit(cause)
    return commit.author if commit is not None else cause.author


def compose(nightly: Nightly, settings: MailSettings, text: str, page: str, now: datetime) -> EmailMessage:
    """The mail: the plain-text report as its body, report.html attached."""
    message = EmailMessage(policy=HEADERS_UNFOLDED)
    message["Subject"] = subject(nightly)
    message["From"] = _one_line(settings.sender)
    message["To"] = ", ".join(settings.to)
    recipients = {address.lower() for _, address in getaddresses([*settings.to])}
    cc = [*settings.cc, *(authors(nightly) if settings.cc_authors else [])]
    cc = [who for who in dict.fromkeys(_one_line(c) for c in cc) if _address(who) not in recipients]
    if cc:
        message["Cc"] = ", ".join(cc)
    message["Date"] = format_datetime(now)
    message["Message-ID"] = make_msgid("orchestrator-nightly", domain=_address(settings.sender).rpartition("@")[2] or None)
    message["Auto-Submitted"] = "auto-generated"  # RFC 3834: a robot's mail; vacation responders stay quiet
    message["X-Orchestrator-Nightly"] = nightly.date
    message.set_content(_body(text, nightly))
    message.add_attachment(page.encode(), maintype="text", subtype="html", filename="report.html")
    return message


def _body(text: str, nightly: Nightly) -> str:
    lines = text.splitlines()
    if lines and lines[0].startswith("Subject: "):  # report.md opens with the subject it would be mailed under
        lines = lines[2:]
    where = f"{nightly.report_dir}" if nightly.report_dir else nightly.results
    return inert_text("\n".join([*lines, "", "-- ", f"orchestrator nightly {nightly.date}; report.html attached; all files in {where}"]) + "\n")


def _one_line(text: str) -> str:
    """A header's value: one line, its control characters shown (a raw ESC in a Subject reaches the
    terminal of whoever lists their mail)."""
    return inert(" ".join(text.split()))


def _address(who: str) -> str:
    return (getaddresses([who]) or [("", who)])[0][1].lower()


def send(message: EmailMessage, settings: MailSettings, password: str | None, timeout: float = 60.0) -> None:
    """Hand the mail to the SMTP server: STARTTLS and login when the matrix asks for them."""
    host, port = settings.host_port
    try:
        with smtplib.SMTP(host, port, timeout=timeout) as smtp:
            if settings.starttls:
                smtp.starttls(context=ssl.create_default_context())
            if settings.user:
                smtp.login(settings.user, password or "")
            refused = smtp.send_message(message)
    except (OSError, smtplib.SMTPException) as error:
        raise MailError(_reason(error), server=settings.smtp) from None
    if refused:
        raise MailError(f"the server refused {', '.join(sorted(refused))}", server=settings.smtp)


def _reason(error: Exception) -> str:
    if isinstance(error, smtplib.SMTPResponseException):
        return f"{error.smtp_code} {error.smtp_error.decode(errors='replace') if isinstance(error.smtp_error, bytes) else error.smtp_error}"
    if isinstance(error, OSError) and error.strerror:
        return error.strerror
    return str(error) or type(error).__name__


def recipients_line(message: EmailMessage) -> str:
    """`kvm@vger.kernel.org (cc Author <a@b>)`: whom a sent mail reached, as the report says it."""
    cc = f" (cc {message['Cc']})" if message["Cc"] else ""
    return f"{message['To']}{cc}"


def password(settings: MailSettings) -> str | None:
    """The SMTP password, from the environment variable or file the matrix names (never the matrix);
    read before the nightly builds anything, so a missing one is said at once."""
    if settings.password_env:
        found = os.environ.get(settings.password_env)
        if found is None:
            raise UserError(f"nightly.mail.password_env: ${settings.password_env} is not set; export it for the nightly (or use password_file)")
        return found
    if settings.password_file:
        try:
            return Path(settings.password_file).read_text().rstrip("\n")
        except OSError as error:
            raise UserError(f"nightly.mail.password_file {settings.password_file}: cannot read it ({error.strerror}); give a readable file") from None
    if settings.user:
        raise UserError("nightly.mail.user is set but no password: name an environment variable with password_env, or a file with password_file")
    return None
