"""A real IMAP and POP3 server for tests: Dovecot from Debian's packages (dovecot-imapd,
dovecot-pop3d), run as an unprivileged process on free loopback ports with a configuration
of its own: one user with a plain password, Maildir storage, no TLS, no systemd.

Dovecot's login processes refuse to run as root, so when the tests run as root the whole
server runs as ``nobody``. Its folder is a fresh one under the system's temporary directory
(pytest's tmp_path is private to the user running the tests, and Dovecot's socket paths must
stay short); a copy of the configuration is left in tmp_path for reading after a failure.
"""

from __future__ import annotations

import imaplib
import os
import pwd
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from tests.smtp_sink import free_port

USER, PASSWORD = "bounces", "s3cret-mailbox"
UNPRIVILEGED = "nobody"

CONFIG = """\
base_dir = {root}/run
state_dir = {root}/state
log_path = {root}/dovecot.log
listen = 127.0.0.1
protocols = imap pop3
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
default_login_user = {user}
default_internal_user = {user}
default_internal_group = {group}
first_valid_uid = {uid}
first_valid_gid = {gid}
mail_location = maildir:{root}/mail/%u
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {root}/passwd
}}
userdb {{
  driver = static
  args = uid={uid} gid={gid} home={root}/home/%u
}}
service imap-login {{
  chroot =
  inet_listener imap {{
    address = 127.0.0.1
    port = {imap_port}
  }}
  inet_listener imaps {{
    port = 0
  }}
}}
service pop3-login {{
  chroot =
  inet_listener pop3 {{
    address = 127.0.0.1
    port = {pop3_port}
  }}
  inet_listener pop3s {{
    port = 0
  }}
}}
service anvil {{
  chroot =
}}
"""


def dovecot_binary() -> str | None:
    return shutil.which("dovecot") or next(
        (path for path in ("/usr/sbin/dovecot",) if os.access(path, os.X_OK)), None)


class Dovecot:
    def __init__(self, keep_config_in: Path) -> None:
        self.keep_config_in = keep_config_in
        self.imap_port, self.pop3_port = free_port(), free_port()
        self.root = Path(tempfile.mkdtemp(prefix="nl-dovecot-"))
        self.process: subprocess.Popen | None = None

    def url(self, scheme: str = "imap", folder: str = "INBOX") -> str:
        port = self.imap_port if scheme == "imap" else self.pop3_port
        path = f"/{folder}" if scheme == "imap" else ""
        return f"{scheme}://{USER}:{PASSWORD}@127.0.0.1:{port}{path}"

    def start(self, binary: str) -> Dovecot:
        as_root = os.geteuid() == 0
        account = pwd.getpwnam(UNPRIVILEGED) if as_root else pwd.getpwuid(os.geteuid())
        for folder in ("run", "state", "mail", "home"):
            (self.root / folder).mkdir()
        (self.root / "passwd").write_text(f"{USER}:{{PLAIN}}{PASSWORD}\n")
        config = CONFIG.format(
            root=self.root, user=account.pw_name, uid=account.pw_uid, gid=account.pw_gid,
            group=_group_name(account.pw_gid), imap_port=self.imap_port, pop3_port=self.pop3_port)
        (self.root / "dovecot.conf").write_text(config)
        (self.keep_config_in / "dovecot.conf").write_text(config)
        if as_root:
            for path in [self.root, *self.root.rglob("*")]:
                os.chown(path, account.pw_uid, account.pw_gid)
        identity = {"user": account.pw_uid, "group": account.pw_gid, "extra_groups": []}
        self.process = subprocess.Popen(
            [binary, "-F", "-c", str(self.root / "dovecot.conf")],
            stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT,
            **(identity if as_root else {}),  # type: ignore[arg-type]
        )
        self._wait_until_ready()
        return self

    def _wait_until_ready(self) -> None:
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                break
            try:
                client = self.imap()
                client.logout()
                return
            except (OSError, imaplib.IMAP4.error):
                time.sleep(0.1)
        raise RuntimeError(f"Dovecot did not start: {self.log()}")

    def log(self) -> str:
        path = self.root / "dovecot.log"
        return path.read_text(errors="replace")[-3000:] if path.exists() else ""

    def imap(self) -> imaplib.IMAP4:
        client = imaplib.IMAP4("127.0.0.1", self.imap_port, timeout=10)
        client.login(USER, PASSWORD)
        return client

    def append(self, raw: bytes, folder: str = "INBOX") -> None:
        client = self.imap()
        try:
            status, data = client.append(folder, None, None, raw)
            assert status == "OK", data
        finally:
            client.logout()

    def count(self, folder: str) -> int:
        """Messages in a folder that are not flagged deleted (0 if it does not exist)."""
        client = self.imap()
        try:
            status, _ = client.select(f'"{folder}"', readonly=True)
            if status != "OK":
                return 0
            return len(client.uid("SEARCH", None, "UNDELETED")[1][0].split())
        finally:
            client.logout()

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
            self.process = None
        shutil.rmtree(self.root, ignore_errors=True)


def _group_name(gid: int) -> str:
    import grp

    return grp.getgrgid(gid).gr_name
