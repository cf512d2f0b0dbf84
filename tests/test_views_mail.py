"""The nightly's mail: composed with the email package (headers that cannot be injected), sent to a real
SMTP server on 127.0.0.1 (aiosmtpd), with STARTTLS and a login when the matrix asks. The nightly that
sends it, end to end, is in test_nightly.py."""

import ssl
from datetime import UTC, datetime
from email import message_from_bytes, policy
from email.utils import parsedate_to_datetime

import pytest
from conftest import bisected, certificates, every_kind, free_port

from orchestrator import matrix
from orchestrator.errors import MailError, UserError
from orchestrator.models import BranchRun, BranchState, MailSettings, Nightly
from orchestrator.views import mail

SETTINGS = MailSettings(smtp="127.0.0.1:25", sender="Kernel CI <ci@ci.example.org>", to=("kvm@vger.example.org",), cc_authors=True)
NOW = datetime(2026, 11, 30, 3, 0, tzinfo=UTC)


def nightly(subject: str = "b") -> Nightly:
    report = bisected(every_kind())
    for cause in report.causes:
        cause.subject = subject
    branch = BranchRun("kvm", "next", "https://git.example.org/kvm.git", state=BranchState.NEW, tip="c" * 40, rows=report.rows,
                       causes=report.causes, first_bad=[a for c in report.causes for a in c.first_bad])  # fmt: skip
    return Nightly(date="2026-11-30", started="s", finished="f", matrix="/m.yaml", results="/r", cells=report.cells, branches=[branch])


def composed(run: Nightly, settings: MailSettings = SETTINGS):
    """The mail as a reader's mail program parses it."""
    message = mail.compose(run, settings, "Subject: x\n\nthe report\n", "<!DOCTYPE html><p>page</p>", NOW)
    return message_from_bytes(message.as_bytes(), policy=policy.default)


def test_the_mail_says_how_many_regressions_where_in_its_subject_and_ccs_the_first_bad_commits_author():
    parsed = composed(nightly())
    assert parsed["Subject"] == '[kvm:next] 2 regressions: still NO BASELINE at aaaaaaaaaaaa "b" (and 1 more)'
    assert (parsed["From"], parsed["To"]) == ("Kernel CI <ci@ci.example.org>", "kvm@vger.example.org")
    assert parsed["Cc"] == "Au Thor <au@thor.invalid>"  # bisection named B, by its author
    assert parsedate_to_datetime(parsed["Date"]) == NOW
    assert parsed["Message-ID"].startswith("<") and parsed["Message-ID"].endswith("@ci.example.org>")
    assert parsed["Auto-Submitted"] == "auto-generated"


def test_the_report_is_the_plain_text_body_and_the_page_is_attached():
    parsed = composed(nightly())
    body = parsed.get_body(preferencelist=("plain",))
    assert body.get_content().startswith("the report\n")  # report.md's own Subject line is not repeated in the body
    [attached] = list(parsed.iter_attachments())
    assert (attached.get_filename(), attached.get_content_type()) == ("report.html", "text/html")
    assert attached.get_content() == "<!DOCTYPE html><p>page</p>"


def test_without_cc_authors_nobody_else_is_copied():
    assert composed(nightly(), MailSettings(smtp="h:25", sender="ci@x.org", to=("a@x.org",)))["Cc"] is None


def test_a_subject_holding_a_newline_adds_no_header():
    parsed = composed(nightly("KVM: fix\nBcc: everyone@example.org\r\nX-Evil: 1"))
    assert parsed["Bcc"] is None and parsed["X-Evil"] is None
    assert "\n" not in parsed["Subject"] and "Bcc: everyone@example.org X-Evil: 1" in parsed["Subject"]


def test_nothing_new_says_so():
    run = nightly()
    run.branches[0].causes = []
    assert composed(run)["Subject"] == "[kvm:next] no regressions"


def test_a_real_smtp_server_receives_it_for_every_recipient(smtp_server):
    settings = MailSettings(smtp=f"127.0.0.1:{smtp_server.port}", sender="ci@ci.example.org", to=("kvm@vger.example.org",), cc=("me@example.org",))
    mail.send(mail.compose(nightly(), settings, "the report\n", "<p>page</p>", NOW), settings, None)
    [received] = smtp_server.messages
    assert received["Subject"].startswith("[kvm:next] 2 regressions")
    assert smtp_server.envelopes == [("ci@ci.example.org", ["kvm@vger.example.org", "me@example.org"])]


def test_starttls_and_a_login_with_the_password_from_the_environment(tmp_path, monkeypatch):
    from aiosmtpd.controller import Controller
    from aiosmtpd.smtp import AuthResult

    files = certificates(tmp_path)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(files["cert"], files["key"])
    logins = []

    def authenticate(server, session, envelope, mechanism, data):
        logins.append((data.login, data.password))
        return AuthResult(success=data.password == b"s3cret", handled=False)  # handled=False: the server says 535 itself

    class Keep:
        received = []

        async def handle_DATA(self, server, session, envelope):
            self.received.append(envelope.content)
            return "250 OK"

    controller = Controller(Keep(), hostname="127.0.0.1", port=free_port(), tls_context=context, require_starttls=True,
                            auth_require_tls=True, authenticator=authenticate)  # fmt: skip
    controller.start()
    try:
        monkeypatch.setenv("SSL_CERT_FILE", str(files["ca"]))  # the test's CA, as a site's own CA would be installed
        monkeypatch.setenv("CI_SMTP_PASSWORD", "s3cret")
        settings = MailSettings(smtp=f"127.0.0.1:{controller.port}", sender="ci@x.org", to=("a@x.org",), starttls=True, user="ci",
                                password_env="CI_SMTP_PASSWORD")  # fmt: skip
        mail.send(mail.compose(nightly(), settings, "r\n", "<p></p>", NOW), settings, mail.password(settings))
        assert logins == [(b"ci", b"s3cret")] and len(Keep.received) == 1
        with pytest.raises(MailError) as refused:
            mail.send(mail.compose(nightly(), settings, "r\n", "<p></p>", NOW), settings, "wrong")
        assert str(refused.value).startswith(f"mail to 127.0.0.1:{controller.port} not sent: 535 ")
    finally:
        controller.stop()


def test_a_server_that_is_down_is_one_line():
    port = free_port()
    settings = MailSettings(smtp=f"127.0.0.1:{port}", sender="ci@x.org", to=("a@x.org",))
    with pytest.raises(MailError) as raised:
        mail.send(mail.compose(nightly(), settings, "r\n", "<p></p>", NOW), settings, None, timeout=5)
    assert str(raised.value) == f"mail to 127.0.0.1:{port} not sent: Connection refused"


def test_the_password_comes_from_a_file_or_the_environment_never_the_matrix(tmp_path, monkeypatch):
    secret = tmp_path / "password"
    secret.write_text("from-file\n")
    assert mail.password(MailSettings("h:25", "a@b.c", ("d@e.f",), user="u", password_file=str(secret))) == "from-file"
    monkeypatch.delenv("NOT_SET_ANYWHERE", raising=False)
    with pytest.raises(UserError, match=r"\$NOT_SET_ANYWHERE is not set"):
        mail.password(MailSettings("h:25", "a@b.c", ("d@e.f",), user="u", password_env="NOT_SET_ANYWHERE"))
    path = tmp_path / "matrix.yaml"
    path.write_text("tree: {path: /src/linux}\naxes: {arch: [riscv], toolchain: [gcc]}\n"
                    "nightly:\n  mail:\n    smtp: smtp.example.org:587\n    from: ci@example.org\n    to: [kvm@vger.kernel.org]\n"
                    "    password: hunter2\n")  # fmt: skip
    with pytest.raises(matrix.MatrixError) as raised:
        matrix.load(path)
    assert str(raised.value) == (
        f"{path}:8: nightly.mail.password: a password is never written in matrix.yaml; name an environment variable with "
        "password_env, or a file with password_file"
    )


def test_mail_settings_are_read_from_the_matrix(tmp_path):
    path = tmp_path / "matrix.yaml"
    path.write_text("tree: {path: /src/linux}\naxes: {arch: [riscv], toolchain: [gcc]}\n"
                    "nightly:\n  mail: {smtp: 'smtp.example.org:587', from: ci@example.org, to: [kvm@vger.kernel.org], cc_authors: true,"
                    " starttls: true, user: ci, password_file: secret}\n")  # fmt: skip
    settings = matrix.load(path).nightly.mail
    assert settings == MailSettings("smtp.example.org:587", "ci@example.org", ("kvm@vger.kernel.org",), (), True, True, "ci", None,
                                    str(tmp_path / "secret"))  # fmt: skip
    assert settings.host_port == ("smtp.example.org", 587)
