"""`llmos-tui serve`: the watch TUI in a real (headless) Chromium, clicked, typed into and screenshotted.

The browser test drives /usr/bin/chromium (Debian's `chromium` package) through playwright, with
playwright's own browser download never used. It is skipped only when Chromium is not installed;
`.ci/run` installs it on CI. The browser reaches nothing but 127.0.0.1/localhost: every other
request is aborted and DNS for every other host fails.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import struct
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import pytest
from test_watch import headless, wait_status

from conftest import script_yaml, text, tool

CHROMIUM = shutil.which("chromium")
if CHROMIUM is None and os.environ.get("LLMOS_REQUIRE_CHROMIUM"):
    raise RuntimeError("LLMOS_REQUIRE_CHROMIUM is set but chromium is not on PATH")
GOAL = "greet the browser"
VIEWPORT = {"width": 1280, "height": 800}
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    # belt and braces: no name but localhost resolves, so nothing outside can be reached
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE localhost, EXCLUDE 127.0.0.1",
]
LOCAL_HOSTS = {"127.0.0.1", "localhost"}

# textual-serve's page keeps its xterm.js Terminal in a closure; expose it so the test reads the
# terminal's buffer (what the page shows) instead of pixels. The served JS is patched on the way in.
TERMINAL_NEW = re.compile(r"this\.terminal=new ([A-Za-z_$][\w$]*)\.Terminal\(")
READ_SCREEN = """() => {
    const t = window.__llmosTerminal;
    if (!t) return null;
    const b = t.buffer.active, lines = [];
    for (let i = 0; i < t.rows; i++) {
        const line = b.getLine(b.viewportY + i);
        lines.push(line ? line.translateToString(true) : "");
    }
    return lines.join("\\n");
}"""


# ---------------------------------------------------------------- helpers


def free_port(host: str = "127.0.0.1") -> int | None:
    """A port free on `host` now (None if `host` cannot be bound, e.g. no IPv6 loopback)."""
    try:
        with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as s:
            s.bind((host, 0))
            return s.getsockname()[1]
    except OSError:
        return None


def start_serve(project: Path, *args: str, logs: Path) -> subprocess.Popen:
    """`llmos-tui serve` in its own process group (it spawns one `watch` per browser session);
    stdout and stderr go to logs/serve.out and logs/serve.err."""
    env = {k: v for k, v in os.environ.items() if k != "ANTHROPIC_API_KEY"}
    with open(logs / "serve.out", "wb") as out, open(logs / "serve.err", "wb") as err:
        return subprocess.Popen(
            [sys.executable, "-m", "llmos_tui", "serve", *args],
            cwd=project,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=err,
            env=env,
            start_new_session=True,
        )


def stop_serve(proc: subprocess.Popen) -> None:
    """SIGTERM (textual-serve exits gracefully), then SIGKILL whatever is left in its group."""
    try:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                pass
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait(10)


def wait_http(host: str, port: int, proc: subprocess.Popen, logs: Path, timeout: float = 20) -> str:
    """The page at http://host:port/, once the server answers."""
    url = f"http://{'[' + host + ']' if ':' in host else host}:{port}/"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"serve exited {proc.returncode}: {(logs / 'serve.err').read_text()}")
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                return r.read().decode()
        except (TimeoutError, urllib.error.URLError, ConnectionError):
            time.sleep(0.1)
    raise AssertionError(f"nothing answered HTTP on {url} within {timeout}s")


def listeners(port: int) -> set[str]:
    """Local addresses (hex, as in /proc/net/tcp*) of the sockets LISTENing on `port`."""
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except FileNotFoundError:
            continue
        for line in lines:
            fields = line.split()
            addr, hexport = fields[1].split(":")
            if int(hexport, 16) == port and fields[3] == "0A":  # 0A = LISTEN
                found.add(addr)
    return found


def wait_for(pred, what: str, timeout: float = 20):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if result := pred():
            return result
        time.sleep(0.05)
    raise AssertionError(f"{what}: not within {timeout}s")


def png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR", "not a PNG"
    return struct.unpack(">II", data[16:24])


def descendants(pid: int) -> list[int]:
    kids = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            kids += [int(k) for k in (task / "children").read_text().split()]
        except OSError:
            pass
    return kids + [d for k in kids for d in descendants(k)]


# ---------------------------------------------------------------- the browser test


@pytest.mark.skipif(
    CHROMIUM is None, reason="Chromium is not installed (apt-get install chromium); .ci/run installs it on CI"
)
def test_approve_from_the_browser_completes_a_headless_run(project, tmp_path):
    from playwright.sync_api import sync_playwright  # the `test` extra

    (project / "s.yaml").write_text(
        script_yaml([tool("Write", file_path="hello.txt", content="hi\n")], [text("Done.")])
    )
    driver = headless(project, "--script", "s.yaml", "--approve", "side-effects", GOAL)
    port = free_port()
    server = None
    try:
        wait_status(project, "awaiting_approval")
        server = start_serve(project, str(project), "--port", str(port), logs=tmp_path)
        page_html = wait_http("127.0.0.1", port, server, tmp_path)
        assert "textual-terminal" in page_html
        assert listeners(port) == {"0100007F"}  # 127.0.0.1 only

        with sync_playwright() as pw:
            browser = pw.chromium.launch_persistent_context(
                str(tmp_path / "chromium-profile"),
                executable_path=CHROMIUM,
                headless=True,
                args=CHROMIUM_ARGS,
                viewport=VIEWPORT,
                timeout=30_000,
            )
            try:
                outside: list[str] = []
                patched: list[bool] = []

                def route(r) -> None:
                    url = r.request.url
                    if urllib.parse.urlsplit(url).hostname not in LOCAL_HOSTS:
                        outside.append(url)  # the page links Google Fonts: never fetched
                        r.abort()
                    elif url.endswith("/static/js/textual.js"):
                        resp = r.fetch()
                        js, n = TERMINAL_NEW.subn(r"this.terminal=window.__llmosTerminal=new \1.Terminal(", resp.text())
                        patched.append(n == 1)
                        r.fulfill(response=resp, body=js)
                    else:
                        r.continue_()

                browser.route("**/*", route)
                page = browser.pages[0] if browser.pages else browser.new_page()
                page.set_default_timeout(30_000)
                page.goto(f"http://127.0.0.1:{port}/")
                assert patched == [True], "textual-serve's textual.js changed: cannot find its xterm Terminal"
                # textual-serve connects at once (a Start button shows only with ?delay); the intro
                # dialog goes away with the first byte from the app
                page.wait_for_selector("body.-first-byte", timeout=30_000)

                def screen() -> str:
                    return page.evaluate(READ_SCREEN) or ""

                def wait_screen(pred, what: str, timeout: float = 30) -> str:
                    deadline = time.monotonic() + timeout
                    while time.monotonic() < deadline:
                        if pred(shown := screen()):
                            return shown
                        page.wait_for_timeout(100)
                    raise AssertionError(f"the page never showed {what}; it shows:\n{screen()}")

                wait_screen(
                    lambda s: GOAL in s and "awaiting approval" in s and "a approve" in s and "driven by pid" in s,
                    "the goal awaiting approval",
                )
                assert not (project / "workspace" / "hello.txt").exists()

                # click into the terminal (the empty Plan pane: nothing there reacts to a click), press a
                box = page.locator("#terminal").bounding_box()
                assert box and box["width"] > 600 and box["height"] > 400
                page.locator("#terminal").click(position={"x": 120, "y": 250})
                page.keyboard.press("a")

                assert driver.wait(30) == 0, driver.stderr.read()
                assert (project / "workspace" / "hello.txt").read_text() == "hi\n"

                # the next state, all of it (the header, the tool-call row and the footer repaint in
                # separate frames). The header's note after " — " is left out: it can go stale when the
                # driver exits before the watcher reads its last records (llmos_tui/core/source.py
                # FollowedRun.check_driver recomputes it only when the driver's liveness changes)
                def completed(s: str) -> bool:
                    lines = s.splitlines()
                    body = "\n".join(lines[2:])
                    return (
                        len(lines) > 2
                        and lines[0].strip() == GOAL
                        and re.match(r" *completed · execute · ", lines[1]) is not None
                        and re.search(r"1 ✓ Write .*hello\.txt.* done", body) is not None
                        and "awaiting" not in body
                        and "a Approve" not in body
                        and "n New goal" in body
                    )

                wait_screen(completed, "the run completed")

                shot = page.screenshot(path=str(tmp_path / "serve.png"), full_page=True)
                assert (tmp_path / "serve.png").read_bytes() == shot
                assert len(shot) > 20_000
                assert png_size(shot) == (VIEWPORT["width"], VIEWPORT["height"])
                assert outside and all("fonts.googleapis.com" in u for u in outside), outside
            finally:
                browser.close()

        # the browser's session ends with its connection: its `watch` process goes away
        deadline = time.monotonic() + 15
        while descendants(server.pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert descendants(server.pid) == [], "the watch process outlived its browser session"
        assert server.poll() is None  # the server itself keeps serving
    finally:
        if server is not None:
            stop_serve(server)
        if driver.poll() is None:
            driver.kill()
        driver.wait(10)


# ---------------------------------------------------------------- binding, without a browser


def test_serve_binds_loopback_by_default_without_a_warning(project, tmp_path):
    port = free_port()
    server = start_serve(project, "--port", str(port), logs=tmp_path)
    try:
        wait_http("127.0.0.1", port, server, tmp_path)
        assert listeners(port) == {"0100007F"}  # 127.0.0.1 only: no IPv4 or IPv6 wildcard
        with pytest.raises(OSError):  # another loopback address of this very machine is refused
            socket.create_connection(("127.0.0.2", port), timeout=2).close()
        assert f"on http://127.0.0.1:{port}" in (tmp_path / "serve.out").read_text()
    finally:
        stop_serve(server)
    assert "warning" not in (tmp_path / "serve.err").read_text()


def test_serve_on_all_interfaces_warns_on_stderr(project, tmp_path):
    port = free_port()
    server = start_serve(project, "--host", "0.0.0.0", "--port", str(port), logs=tmp_path)
    try:
        err = wait_for(
            lambda: "\n" in (e := (tmp_path / "serve.err").read_text()) and e, "a line on stderr", timeout=10
        )
        line = err.splitlines()[0]
        assert line.startswith("warning: serving on 0.0.0.0:") and "approve" in line, err
        assert wait_for(lambda: listeners(port), "listening") == {"00000000"}  # it took the wildcard
    finally:
        stop_serve(server)


def test_page_served_on_all_interfaces_names_a_reachable_address(project, tmp_path):
    port = free_port()
    server = start_serve(project, "--host", "0.0.0.0", "--port", str(port), logs=tmp_path)
    try:
        page_html = wait_http("127.0.0.1", port, server, tmp_path)
    finally:
        stop_serve(server)
    assert "textual-terminal" in page_html
    assert "0.0.0.0" not in page_html


def test_page_served_on_ipv6_loopback_has_valid_urls(project, tmp_path):
    port = free_port("::1")
    if port is None:
        pytest.skip("no IPv6 loopback on this machine")
    server = start_serve(project, "--host", "::1", "--port", str(port), logs=tmp_path)
    try:
        page_html = wait_http("::1", port, server, tmp_path)
    finally:
        stop_serve(server)
    assert f'data-session-websocket-url="ws://[::1]:{port}/ws"' in page_html
    assert f'src="http://[::1]:{port}/static/js/textual.js"' in page_html
