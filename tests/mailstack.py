"""Real mail servers on loopback for the bounce reader's tests: Debian's Dovecot (IMAP) and
Postfix (a real MTA, so the bounces are the ones Postfix really writes, RFC 3464).

Both live in a folder given to them (created with `make_folder()`: it must be traversable by
the unprivileged users the daemons switch to, which a pytest tmp_path is not) and never touch
/etc/dovecot, /etc/postfix's main.cf, /var/spool/postfix or the well-known ports.

`Dovecot(folder)`: `start()` returns once IMAP answers; `stop()` leaves no process behind.
  - `port`: plain IMAP offering STARTTLS; `ssl_port`: implicit TLS. The certificate is
    `certificate` (for 127.0.0.1); clients trust it with SSL_CERT_FILE=<certificate>.
  - One user, `USER` / `PASSWORD` (plaintext login allowed without TLS, for the `none` mode),
    whose mail is the Maildir `maildir`; `deliver(raw)`, `messages()`, `count()`, `empty()`,
    `imap(tls=True)` (a logged-in imaplib client).
  - XOAUTH2: `identity` is a tests.microsoft.IdentityProvider (HTTPS, same certificate) whose
    client-credentials tokens open `USER`'s mailbox; Dovecot asks it by token introspection.
  - `log_path`, `log_tail()`: Dovecot's log.
`Postfix(folder, dovecot)`: SMTP on 127.0.0.1:`port`, no TLS, no auth, relay from 127.0.0.0/8,
  its own config, queue and data directories (`postfix -c`, which root may use without
  alternate_config_directories). Where mail goes:
  - `REFUSED` (refused@clientes.test): 550 5.1.1 at RCPT time;
  - `STALE` (stale@clientes.test): accepted, then bounced by Postfix (the `error` transport),
    so Postfix mails an RFC 3464 report to the envelope sender at once;
  - any other @clientes.test address: the catch-all Maildir, `delivered()`;
  - `SENDER` (estados@localhost) and `USER`: Dovecot's Maildir, where the bounces land;
  - `ANALYST` (analista@localhost): another Maildir, `analyst_mail()`;
  - anything else: bounced too (nothing ever leaves the machine).
  `send(sender, recipients, raw)` (smtplib's refused dict); `empty()` clears the catch-all
  and analyst Maildirs; `log_path`, `log_tail()`; `stop()` leaves no process behind.
`available()`: "" when the binaries are installed, else the missing ones.
`wait_for(predicate, timeout, what, *servers)`: polls until true, else fails with the servers'
  log tails.

Both daemons run as root (the packages' way) and hand mail to uid/gid `MAIL_UID` (nobody), so
no system user is created; Maildir files written here are chowned to it.
"""

from __future__ import annotations

import contextlib
import imaplib
import os
import shutil
import signal
import smtplib
import socket
import ssl
import subprocess
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

from tests.microsoft import IdentityProvider, self_signed
from tests.support import free_port

USER = "rebotes@localhost"
PASSWORD = "Clave-del-Buzon-1"
SENDER = "estados@localhost"
ANALYST = "analista@localhost"
CUSTOMERS = "clientes.test"
REFUSED = f"refused@{CUSTOMERS}"
STALE = f"stale@{CUSTOMERS}"
REFUSED_REPLY = "5.1.1 <refused@clientes.test>: Recipient address rejected: User unknown"
_REFUSED_ACTION = "550 5.1.1 User unknown"  # Postfix prefixes the address and "rejected:"
STALE_REPLY = "5.1.1 The email account that you tried to reach does not exist"
MAIL_UID = MAIL_GID = 65534  # nobody / nogroup
STARTUP_SECONDS = 30


def available() -> str:
    """ "" when both daemons are installed, else what is missing (for skip/fail messages)."""
    missing = [name for name in ("dovecot", "postfix", "postconf") if not _which(name)]
    return ", ".join(missing)


def _which(name: str) -> str | None:
    """The daemons live in /usr/sbin, which a non-login shell's PATH may lack."""
    return shutil.which(name) or shutil.which(name, path="/usr/sbin:/sbin")


def make_folder() -> Path:
    """A fresh folder under /tmp that the daemons' unprivileged users may traverse."""
    folder = Path(tempfile.mkdtemp(prefix="envio-mail-"))
    folder.chmod(0o755)
    return folder


class _Logged(Protocol):
    def log_tail(self, lines: int = 40) -> str: ...


def wait_for(predicate: Callable[[], object], timeout: float, what: str, *servers: _Logged) -> None:
    """Poll `predicate` until it holds; mail arrives asynchronously, so tests wait for it."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            logs = "\n".join(server.log_tail() for server in servers)
            raise AssertionError(f"timed out after {timeout} s waiting for {what}\n{logs}")
        time.sleep(0.05)


def _tail(path: Path, lines: int) -> str:
    try:
        text = path.read_text(errors="replace")
    except FileNotFoundError:
        return f"--- {path}: no log yet"
    return f"--- last lines of {path}:\n" + "\n".join(text.splitlines()[-lines:])


def _maildir(path: Path) -> Path:
    """An empty Maildir owned by the mail uid."""
    for sub in ("", "new", "cur", "tmp"):
        (path / sub).mkdir(parents=True, exist_ok=True)
        os.chown(path / sub, MAIL_UID, MAIL_GID)
        (path / sub).chmod(0o700)
    return path


def _messages(maildir: Path) -> list[bytes]:
    """Messages in arrival order (Maildir names start with the delivery time)."""
    files = [*maildir.glob("new/*"), *maildir.glob("cur/*")]
    found = []
    for path in sorted(files, key=lambda item: (item.stat().st_mtime, item.name)):
        with contextlib.suppress(FileNotFoundError):
            found.append(path.read_bytes())
    return found


def _empty(maildir: Path) -> None:
    for path in [*maildir.glob("new/*"), *maildir.glob("cur/*")]:
        path.unlink(missing_ok=True)


def _wait_listening(
    port: int,
    greeting: bytes,
    process_alive: Callable[[], bool],
    tls: ssl.SSLContext | None = None,
) -> bool:
    """True once the server on `port` greets with `greeting` (over TLS if `tls`); False if it
    died or stayed silent: a listening socket alone may still belong to a starting daemon."""
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline and process_alive():
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=2) as raw:
                sock = tls.wrap_socket(raw, server_hostname="127.0.0.1") if tls else raw
                if sock.recv(200).startswith(greeting):
                    return True
        except OSError:
            time.sleep(0.05)
    return False


class Dovecot:
    """`dovecot -F` on two free loopback ports with its whole state inside `folder/dovecot`."""

    def __init__(self, folder: Path) -> None:
        self.root = folder / "dovecot"
        self.root.mkdir(parents=True)
        self.port = free_port()
        self.ssl_port = free_port()
        self.certificate, self.key = self_signed(self.root)
        self.maildir = self.root / "Maildir"
        self.log_path = self.root / "dovecot.log"
        self.identity = IdentityProvider(self.certificate, self.key)
        self.identity.tokens.username = USER
        self.process: subprocess.Popen[bytes] | None = None
        self._serving = False  # the provider's thread runs; shutdown() would hang otherwise

    def start(self) -> None:
        """Write the configuration, start the daemon, return when both ports greet."""
        home = self.root / "home"
        home.mkdir()
        os.chown(home, MAIL_UID, MAIL_GID)
        _maildir(self.maildir)
        self.identity.__enter__()
        self._serving = True
        conf = self._write_config()
        with (self.root / "stdout.log").open("wb") as output:
            self.process = subprocess.Popen(
                [_which("dovecot") or "dovecot", "-F", "-c", str(conf)],
                stdout=output,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        alive = lambda: self.process is not None and self.process.poll() is None  # noqa: E731
        ready = _wait_listening(self.port, b"* OK", alive)
        tls = ssl.create_default_context(cafile=self.certificate)
        if not (ready and _wait_listening(self.ssl_port, b"* OK", alive, tls)):
            output = _tail(self.root / "stdout.log", 40)
            self.stop()
            raise RuntimeError(f"dovecot did not start\n{output}\n{self.log_tail()}")

    def _write_config(self) -> Path:
        run, state = self.root / "run", self.root / "state"
        run.mkdir()
        state.mkdir()
        passwd = self.root / "passwd"
        passwd.write_text(f"{USER}:{{PLAIN}}{PASSWORD}\n")
        oauth2 = self.root / "oauth2.conf.ext"
        oauth2.write_text(
            f"introspection_mode = post\n"
            f"introspection_url = {self.identity.introspection_url}\n"
            f"username_attribute = username\n"
            f"active_attribute = active\n"
            f"active_value = true\n"
            f"tls_ca_cert_file = {self.certificate}\n"
        )
        conf = self.root / "dovecot.conf"
        conf.write_text(
            DOVECOT_CONF.format(
                run=run, state=state, log=self.log_path, cert=self.certificate, key=self.key,
                passwd=passwd, oauth2=oauth2, uid=MAIL_UID, gid=MAIL_GID,
                home=self.root / "home", maildir=self.maildir, port=self.port,
                ssl_port=self.ssl_port,
            )
        )  # fmt: skip
        return conf

    def stop(self) -> None:
        """SIGTERM to the master's process group, SIGKILL if it lingers; then the provider."""
        if self.process is not None:
            _stop_group(self.process.pid, self.process.poll)
            self.process = None
        if self._serving:
            self.identity.__exit__()
            self._serving = False
        else:
            self.identity.httpd.server_close()

    def deliver(self, raw: bytes) -> Path:
        """Put a message in the mailbox as an MTA would: tmp/ first, then renamed into new/."""
        name = f"{time.time():.6f}.{uuid.uuid4().hex}.envio"
        temporary = self.maildir / "tmp" / name
        temporary.write_bytes(raw)
        os.chown(temporary, MAIL_UID, MAIL_GID)
        temporary.chmod(0o600)
        final = self.maildir / "new" / name
        temporary.rename(final)
        return final

    def messages(self) -> list[bytes]:
        return _messages(self.maildir)

    def count(self) -> int:
        return len(self.messages())

    def empty(self) -> None:
        """Expunged over IMAP, not removed behind Dovecot's back: files deleted within the
        second of its last look stay in its index, and the next SELECT still lists them.
        """
        with self.imap() as client:
            client.select("INBOX")
            _, found = client.search(None, "ALL")
            if found[0]:
                client.store("1:*", "+FLAGS.SILENT", "\\Deleted")
                client.expunge()
        _empty(self.maildir)

    def imap(self, *, tls: bool = True) -> imaplib.IMAP4:
        """A logged-in client on the implicit-TLS port (or plain), for tests' own checks."""
        client: imaplib.IMAP4 = (
            imaplib.IMAP4_SSL("127.0.0.1", self.ssl_port, timeout=10)
            if tls
            else imaplib.IMAP4("127.0.0.1", self.port, timeout=10)
        )
        client.login(USER, PASSWORD)
        return client

    def log_tail(self, lines: int = 40) -> str:
        return _tail(self.log_path, lines)


DOVECOT_CONF = """\
base_dir = {run}
state_dir = {state}
log_path = {log}
info_log_path = {log}
debug_log_path = {log}
instance_name = envio-test-dovecot
protocols = imap
listen = 127.0.0.1
ssl = yes
ssl_cert = <{cert}
ssl_key = <{key}
disable_plaintext_auth = no
auth_mechanisms = plain login xoauth2 oauthbearer
auth_failure_delay = 0
auth_verbose = yes
default_login_user = dovenull
default_internal_user = dovecot
first_valid_uid = {uid}
first_valid_gid = {gid}
mail_location = maildir:{maildir}
passdb {{
  driver = passwd-file
  args = scheme=PLAIN {passwd}
  mechanisms = plain login
}}
passdb {{
  driver = oauth2
  args = {oauth2}
  mechanisms = xoauth2 oauthbearer
}}
userdb {{
  driver = static
  args = uid={uid} gid={gid} home={home}
}}
# No auth penalty (anvil's growing delay for an IP after a failed login): tests fail logins on
# purpose, and the next test's login would wait up to 15 s.
service anvil {{
  unix_listener anvil-auth-penalty {{
    mode = 0
  }}
}}
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {port}
  }}
  inet_listener imaps {{
    address = 127.0.0.1
    port = {ssl_port}
    ssl = yes
  }}
}}
"""


class Postfix:
    """A Postfix instance of its own (`postfix -c folder/postfix/etc`) on a free loopback port."""

    def __init__(self, folder: Path, dovecot: Dovecot) -> None:
        self.root = folder / "postfix"
        self.root.mkdir(parents=True)
        self.port = free_port()
        self.config = self.root / "etc"
        self.dovecot = dovecot
        self.catch_all = self.root / "clientes"
        self.analyst = self.root / "analista"
        self.log_path = self.root / "postfix.log"

    def start(self) -> None:
        """Write main.cf and master.cf, `postfix start`, return when SMTP greets."""
        _maildir(self.catch_all)
        _maildir(self.analyst)
        self.config.mkdir()
        (self.root / "queue").mkdir()  # root's; `postfix start` creates its subdirectories
        (self.config / "main.cf").write_text(self._main_cf())
        (self.config / "master.cf").write_text(MASTER_CF.format(port=self.port))
        started = self._postfix("start")
        running = lambda: self._master_pid() is not None  # noqa: E731
        if started.returncode != 0 or not _wait_listening(self.port, b"220", running):
            self.stop()
            said = started.stdout + started.stderr
            raise RuntimeError(f"postfix did not start\n{said}\n{self.log_tail()}")

    def _main_cf(self) -> str:
        mailboxes = {
            SENDER: self.dovecot.maildir,
            USER: self.dovecot.maildir,
            ANALYST: self.analyst,
            f"@{CUSTOMERS}": self.catch_all,
        }
        # Paths relative to virtual_mailbox_base = /; a trailing slash means Maildir.
        return MAIN_CF.format(
            queue=self.root / "queue", data=self.root / "data", log=self.log_path,
            log_prefix=self.root, uid=MAIL_UID, gid=MAIL_GID,
            mailboxes=", ".join(f"{key}={str(path)[1:]}/" for key, path in mailboxes.items()),
            refused=f"{REFUSED}={_REFUSED_ACTION}", stale=f"{STALE}=error:{STALE_REPLY}",
            domains=f"localhost, {CUSTOMERS}",
        )  # fmt: skip

    def _postfix(self, command: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [_which("postfix") or "postfix", "-c", str(self.config), command],
            capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip

    def stop(self) -> None:
        """SIGTERM to the master's process group, as `postfix stop` does without its 1 s polls;
        returns once the master and its children are gone."""
        master = self._master_pid()
        if master is None:
            self._postfix("stop")  # a start that failed half-way, if anything runs at all
        else:
            _stop_group(master)
        shutil.rmtree(self.root / "queue", ignore_errors=True)

    def _master_pid(self) -> int | None:
        try:
            return int((self.root / "queue" / "pid" / "master.pid").read_text().split()[0])
        except (FileNotFoundError, ValueError, IndexError):
            return None

    def send(self, sender: str, recipients: list[str], raw: bytes) -> dict[str, tuple[int, bytes]]:
        """One SMTP transaction; smtplib's dict of refused recipients."""
        with smtplib.SMTP("127.0.0.1", self.port, timeout=10) as client:
            return client.sendmail(sender, recipients, raw)

    def delivered(self) -> list[bytes]:
        """What reached @clientes.test addresses; Postfix adds each one's `Delivered-To:`."""
        return _messages(self.catch_all)

    def analyst_mail(self) -> list[bytes]:
        return _messages(self.analyst)

    def empty(self) -> None:
        _empty(self.catch_all)
        _empty(self.analyst)

    def log_tail(self, lines: int = 40) -> str:
        return _tail(self.log_path, lines)


MAIN_CF = """\
compatibility_level = 3.6
queue_directory = {queue}
data_directory = {data}
mail_owner = postfix
setgid_group = postdrop
maillog_file = {log}
maillog_file_prefixes = {log_prefix}
myhostname = mail.test
mydomain = mail.test
myorigin = $myhostname
mydestination =
local_recipient_maps =
alias_maps =
alias_database =
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
smtpd_banner = $myhostname ESMTP
smtpd_error_sleep_time = 0
# Else smtpd refuses at RCPT what its transport bounces (STALE), as an unknown user.
smtpd_reject_unlisted_recipient = no
smtpd_relay_restrictions = permit_mynetworks, reject_unauth_destination
smtpd_recipient_restrictions = check_recipient_access inline:{{ {{ {refused} }} }},
    permit_mynetworks, reject_unauth_destination
virtual_mailbox_domains = {domains}
virtual_mailbox_base = /
virtual_mailbox_maps = inline:{{ {mailboxes} }}
virtual_uid_maps = static:{uid}
virtual_gid_maps = static:{gid}
transport_maps = inline:{{ {{ {stale} }} }}
default_transport = error:5.7.1 this test server delivers nothing off the machine
relay_transport = $default_transport
local_transport = $default_transport
queue_run_delay = 1s
minimal_backoff_time = 1s
maximal_backoff_time = 2s
in_flow_delay = 0
biff = no
smtputf8_enable = no
"""

# Debian's master.cf without chroot, with smtpd on the test's port only.
MASTER_CF = """\
127.0.0.1:{port} inet n - n - - smtpd
pickup     unix n - n 60 1 pickup
cleanup    unix n - n - 0 cleanup
qmgr       unix n - n 300 1 qmgr
rewrite    unix - - n - - trivial-rewrite
bounce     unix - - n - 0 bounce
defer      unix - - n - 0 bounce
trace      unix - - n - 0 bounce
verify     unix - - n - 1 verify
flush      unix n - n 1000? 0 flush
proxymap   unix - - n - - proxymap
proxywrite unix - - n - 1 proxymap
showq      unix n - n - - showq
error      unix - - n - - error
retry      unix - - n - - error
discard    unix - - n - - discard
virtual    unix - n n - - virtual
anvil      unix - - n - 1 anvil
scache     unix - - n - 1 scache
postlog    unix-dgram n - n - 1 postlogd
"""


def _group_gone(pid: int) -> bool:
    try:
        os.killpg(pid, 0)
    except ProcessLookupError:
        return True
    return False


def _stop_group(pid: int, reap: Callable[[], object] = lambda: None) -> None:
    """SIGTERM the process group led by `pid` and wait until it is empty, SIGKILL after 10 s.

    `reap` collects our own child (a zombie still counts as a member of its group).
    """
    for sent in (signal.SIGTERM, signal.SIGKILL):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, sent)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            reap()
            if _group_gone(pid):
                return
            time.sleep(0.05)
    raise RuntimeError(f"process group {pid} survived SIGKILL")
