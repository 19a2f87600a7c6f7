"""Bubblewrap: the OS sandbox Bash runs in when the machine has one.

`bwrap` (Debian/Ubuntu package `bubblewrap`, what Claude Code's own Linux sandbox uses) runs the
command in new mount, pid, ipc and uts namespaces — and a network namespace with nothing but its
own loopback unless the network is allowed — with all capabilities dropped:

- the whole filesystem read-only (`--ro-bind / /`), a minimal `/dev`, a `/proc` of its own;
- the workspace and `paths.allow_write` writable, except llmos-tui's own bookkeeping there
  (`runs/`, `execution_state.md`, the lock), which stays read-only: a command cannot approve its
  own steps through control.jsonl or rewrite the journal;
- `/tmp` private and empty (a tmpfs that ends with the call);
- the user's secrets hidden: the folders and files of `HIDDEN_HOME` under the home folder (every
  home under /home too when running as root) become empty (a tmpfs, or /dev/null for a file), as
  do the per-user runtime folder (agent sockets) and the container engines' sockets;
- `--die-with-parent` and its own pid namespace: when the driver dies the whole call dies;
  `--new-session`: no way back to a terminal.

`probe()` checks once per process that bwrap is there *and works* (user namespaces may be off in
a container): a machine without it runs Bash unconfined, and the runner says so once at run start.
"""

from __future__ import annotations

import functools
import os
import pwd
import shutil
import subprocess
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

# relative to a home folder: hidden from every sandboxed command (they hold credentials)
HIDDEN_HOME = (
    ".ssh",
    ".aws",
    ".azure",
    ".config",  # gcloud, gh, git credentials, hub, rclone, … and llmos-tui's own settings
    ".gnupg",
    ".netrc",
    ".git-credentials",
    ".docker",
    ".kube",
    ".npmrc",
    ".pypirc",
    ".pgpass",
    ".my.cnf",
    ".password-store",
    ".vault-token",
    ".terraform.d",
    ".cargo/credentials",
    ".cargo/credentials.toml",
    ".claude",
    ".claude.json",
    ".cache/huggingface",
    ".local/share/keyrings",
    ".mozilla",
    ".bash_history",
    ".zsh_history",
    ".python_history",
    ".psql_history",
    ".mysql_history",
)
# sockets that hand out more than the sandbox allows (a container engine is root on the host)
HIDDEN_SYSTEM = (
    "/var/run/docker.sock",
    "/run/docker.sock",
    "/run/containerd",
    "/run/podman",
    "/run/dbus/system_bus_socket",
)
_PROBE_TIMEOUT = 10.0
# every call: namespaces of its own, no capabilities, dies with the driver, no terminal
COMMON = (
    "--unshare-pid",
    "--unshare-ipc",
    "--unshare-uts",
    "--unshare-cgroup-try",
    "--die-with-parent",
    "--new-session",
    "--cap-drop",
    "ALL",
)


@dataclass(frozen=True)
class Availability:
    path: str | None  # the bwrap executable, when it works here
    reason: str  # why not, when it does not

    @property
    def ok(self) -> bool:
        return self.path is not None


@functools.cache
def probe() -> Availability:
    """Whether bubblewrap runs on this machine (found on PATH and able to make its namespaces)."""
    exe = shutil.which("bwrap")
    if exe is None:
        return Availability(None, "bubblewrap (bwrap) is not installed")
    argv = [exe, "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc", *COMMON, "--unshare-net", "true"]
    try:
        done = subprocess.run(argv, capture_output=True, timeout=_PROBE_TIMEOUT, stdin=subprocess.DEVNULL)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return Availability(None, f"bwrap cannot run here ({type(exc).__name__}: {exc})")
    if done.returncode != 0:
        why = done.stderr.decode("utf-8", "replace").strip().splitlines()
        return Availability(None, f"bwrap does not work here: {why[-1] if why else f'exit code {done.returncode}'}")
    return Availability(exe, "")


def home_folders() -> list[str]:
    """The homes whose secrets are hidden: $HOME, the user's home from the password database, and
    when running as root every folder under /home."""
    homes: list[str] = []
    for h in (os.environ.get("HOME"), _pw_home()):
        if h:
            homes.append(h)
    if os.geteuid() == 0:
        try:
            homes += [str(p) for p in Path("/home").iterdir() if p.is_dir()]
        except OSError:
            pass
    return _unique(os.path.realpath(h) for h in homes if os.path.isabs(h) and os.path.realpath(h) != "/")


def _pw_home() -> str | None:
    try:
        return pwd.getpwuid(os.geteuid()).pw_dir
    except KeyError:
        return None


def _unique(items: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(items))


def secret_paths(homes: Sequence[str]) -> list[str]:
    """The existing paths to hide, symlinks resolved (bwrap mounts over the real path)."""
    found = [os.path.join(h, rel) for h in homes for rel in HIDDEN_HOME]
    found += list(HIDDEN_SYSTEM) + [f"/run/user/{os.geteuid()}"]
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    if runtime and os.path.isabs(runtime):
        found.append(runtime)
    return _unique(os.path.realpath(p) for p in found if os.path.lexists(p) and os.path.exists(p))


def _inside(path: str, root: str) -> bool:
    return path == root or path.startswith(root.rstrip(os.sep) + os.sep)


def _hide(path: str) -> list[str]:
    if os.path.isdir(path):
        return ["--tmpfs", path, "--remount-ro", path]
    return ["--ro-bind", "/dev/null", path]


def _needed_under_tmp(roots: Sequence[str]) -> list[str]:
    import sys

    wanted = [sys.prefix, sys.base_prefix, sys.exec_prefix, *os.environ.get("PATH", "").split(os.pathsep)]
    wanted += [os.path.dirname(r) for r in roots]
    out: list[str] = []
    for p in wanted:
        if not p or not os.path.isdir(p):
            continue
        real = os.path.realpath(p)
        if _inside(real, "/tmp") and real != "/tmp" and not any(_inside(real, o) for o in out):
            out = [o for o in out if not _inside(o, real)] + [real]
    return out


def argv(
    bwrap: str,
    command: Sequence[str],
    *,
    cwd: str,
    write_roots: Sequence[str],
    read_only: Sequence[str] = (),
    network: bool = False,
    hidden: Sequence[str] | None = None,
) -> list[str]:
    """The bwrap command line that runs `command` in `cwd` under the sandbox. `write_roots`
    (the workspace first) are writable, except `read_only` paths inside them; `hidden` defaults
    to `secret_paths(home_folders())`."""
    hide = list(hidden) if hidden is not None else secret_paths(home_folders())
    roots = _unique(os.path.realpath(r) for r in write_roots if os.path.isdir(r))
    a = [bwrap, "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc", "--tmpfs", "/tmp"]
    # a private /tmp must not take away what the command runs with: an interpreter, a virtualenv
    # or a PATH folder that lives under /tmp, and the project around the workspace, come back
    # read-only (the workspace itself comes back writable below)
    for p in _needed_under_tmp(roots):
        a += ["--ro-bind", p, p]
    # secrets first, then the writable roots (a workspace inside ~/.config comes back), then the
    # secrets inside a writable root again (a workspace that holds a home keeps its secrets hidden)
    for p in hide:
        if not _inside(p, "/tmp") and not any(_inside(p, r) for r in roots):
            a += _hide(p)
    for r in roots:
        a += ["--bind", r, r]
    for p in hide:
        if any(_inside(p, r) for r in roots):
            a += _hide(p)
    for p in read_only:
        if os.path.lexists(p) and os.path.exists(p):
            real = os.path.realpath(p)
            a += ["--ro-bind", real, real]
    a += [*COMMON, *([] if network else ["--unshare-net"]), "--chdir", cwd, "--", *command]
    return a
