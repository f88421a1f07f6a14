"""The README's quick start ("Run it" and "The first upload"), its commands read from README.md here
so that the README cannot drift from what is tested: on a fresh folder with the defaults (two-factor
authentication required), `strongroom serve`, the first account made with `user create --totp`
(run in a terminal, the code typed at the prompt as a person would), a token, the first twine
upload and a pip install.

What the test changes, each replacement checked to be there: the binary is the suite's build (on
PATH as `strongroom`) instead of `cargo install`'s, the server listens on a free port instead of
8080 (other suites run beside this one), `dist/*` holds a small wheel of sr-quickstart 1.0 and
`yourpackage` is sr-quickstart. On pg_s3 the database and bucket come from the environment (`STRONGROOM_DATABASE`,
`STRONGROOM_STORAGE`, ...), so the commands stay as written."""

from __future__ import annotations

import fcntl
import os
import re
import select
import subprocess
import termios
import time
from pathlib import Path

import pyotp
import pytest

import srkit

README = Path(__file__).resolve().parents[2] / "README.md"
SECTION, END = "## Run it", "### Who may register"
DOC_URL = "http://127.0.0.1:8080"


def quick_start_blocks() -> list[list[str]]:
    """The ```sh blocks of the quick start, each as its command lines."""
    text = README.read_text()
    section = text[text.index(SECTION):text.index(END)]
    blocks = re.findall(r"^```sh\n(.*?)^```", section, flags=re.S | re.M)
    return [[ln for ln in b.splitlines() if ln.strip()] for b in blocks]


def substitute(block: str, replacements: dict[str, str]) -> str:
    """Replace each placeholder of the README's block; every one must be there (else the test no
    longer runs what the README says)."""
    for old, new in replacements.items():
        assert old in block, f"the README's quick start no longer contains {old!r} in {block!r}"
        block = block.replace(old, new)
    return block


def run_in_terminal(line: str, *, cwd: Path, env: dict[str, str], timeout: float = 120) -> str:
    """Run `line` with bash in a new pseudo-terminal (its controlling terminal, as in a person's
    shell); when the TOTP secret appears, type the current code at the prompt. Returns what the
    terminal showed."""
    master, slave = os.openpty()

    def controlling_tty() -> None:
        fcntl.ioctl(0, termios.TIOCSCTTY, 0)

    proc = subprocess.Popen(["bash", "-c", line], stdin=slave, stdout=slave, stderr=slave, cwd=cwd, env=env,
                            start_new_session=True, preexec_fn=controlling_tty)
    os.close(slave)
    shown, typed = b"", False
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 1)
            if ready:
                try:
                    chunk = os.read(master, 4096)
                except OSError:  # EIO: the terminal's last process is gone
                    break
                if not chunk:
                    break
                shown += chunk
            text = shown.decode(errors="replace")
            m = re.search(r"^secret: ([A-Z2-7]+)\r?$", text, re.M)
            if m and not typed and "Code from the authenticator app" in text:
                os.write(master, (pyotp.TOTP(m.group(1)).now() + "\n").encode())
                typed = True
            if proc.poll() is not None and not ready:
                break
        else:
            proc.kill()
            pytest.fail(f"{line!r} did not finish in {timeout:.0f}s; the terminal showed:\n{shown.decode(errors='replace')}")
    finally:
        os.close(master)
    code = proc.wait(10)
    text = shown.decode(errors="replace").replace("\r\n", "\n")
    assert typed, f"{line!r} never showed a secret and a prompt for the code:\n{text}"
    assert code == 0, f"{line!r} exited {code}:\n{text}"
    return text


def test_the_readme_quick_start_with_2fa_on_through_the_first_upload_and_install(
        strongroom, backend_kind, tmp_path):
    blocks = quick_start_blocks()
    assert len(blocks) == 3, f"expected the quick start's three sh blocks (serve, account, upload), got {blocks}"
    serve_block, account_block, upload_block = blocks

    # A fresh folder, the suite's binary as `strongroom`, the venv's twine and pip.
    home = tmp_path / "fresh"
    home.mkdir()
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "strongroom").symlink_to(srkit.strongroom_bin())
    site = tmp_path / "installed"
    env = srkit.client_env(tmp_path, PIP_TARGET=str(site))
    env["PATH"] = os.pathsep.join([str(bin_dir), str(srkit.VENV_BIN), "/usr/bin", "/bin"])
    env["HOME"] = str(tmp_path / "home")
    # Only the port and, on pg_s3, where the data lives; every policy is the default.
    env["STRONGROOM_BIND"] = "127.0.0.1:0"
    backend = strongroom.pool.backend(backend_kind)
    env.update(backend.env())
    if backend.database:
        env["STRONGROOM_DATABASE"] = backend.database
        env["STRONGROOM_STORAGE"] = f"s3://{backend.bucket}"
    shown = srkit.run(["strongroom", "config", "show"], env=env, cwd=home)
    assert re.search(r"^require_2fa\s+= true\s+# default", shown.stdout, re.M), shown.stdout

    # 1. Build and serve.
    assert serve_block == ["cargo install --path crates/strongroom", "strongroom serve"], serve_block
    manifest = README.parent / "crates" / "strongroom" / "Cargo.toml"
    assert 'name = "strongroom"' in manifest.read_text(), "cargo install --path crates/strongroom builds `strongroom`"
    server_log = open(tmp_path / "serve.stderr", "wb")
    serve = subprocess.Popen(["bash", "-c", serve_block[1]], cwd=home, env=env, stdout=subprocess.PIPE,
                             stderr=server_log, text=True)
    try:
        url = None
        deadline = time.monotonic() + srkit.SERVER_START_TIMEOUT
        while url is None and time.monotonic() < deadline:
            line = serve.stdout.readline()
            if not line:
                break
            m = srkit.LISTEN_RE.search(line)
            url = m.group(1) if m else None
        assert url, f"strongroom serve did not start:\n{(tmp_path / 'serve.stderr').read_text()}"
        url = url.rstrip("/")
        if backend_kind == "sqlite":
            assert (home / "strongroom-data" / "strongroom.db").exists()

        # 2. The account, its authenticator app enrolled at the terminal.
        assert len(account_block) == 1, account_block
        made = run_in_terminal(account_block[0], cwd=home, env=env)
        assert "created user alice" in made and "as administrator" in made and "two-factor authentication on" in made, made
        codes = re.findall(r"^  ([0-9a-f]{16})$", made, re.M)
        assert len(codes) == 8, made
        # The QR code is drawn in the terminal (half-block characters).
        assert made.count("\u2588") > 100, made

        # 3. A token, the first upload, an install: one shell, as the README's block runs.
        dist = home / "dist"
        dist.mkdir()
        wheel = srkit.make_wheel("sr-quickstart", "1.0")
        (dist / wheel.filename).write_bytes(wheel.data)
        script = substitute("\n".join(upload_block), {DOC_URL: url, "yourpackage": "sr-quickstart"})
        assert "twine upload" in script and "pip install" in script and "token create" in script, script
        done = srkit.run(["bash", "-euo", "pipefail", "-c", script], env=env, cwd=home, timeout=300)
        assert list(site.glob("sr_quickstart-1.0.dist-info")), srkit.output(done)
    finally:
        serve.terminate()
        serve.wait(20)
        server_log.close()
    log = (tmp_path / "serve.stderr").read_text(errors="replace")
    assert "panicked at" not in log, log[-5000:]
