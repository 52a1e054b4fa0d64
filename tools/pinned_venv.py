"""The project's cache folder and the pinned virtual environments of the conversion tools.

A tool calls `run_in_pinned_venv(name, packages, tool)` first: outside its environment, this
creates (once) `<cache>/<name>` with exactly `packages` from PyPI and re-executes the tool
with that environment's python; inside it, it returns at once.
"""

import os
import subprocess
import sys
import venv
from pathlib import Path


def cache_dir() -> Path:
    """`$NERF_AVATAR_CACHE`, else `$XDG_CACHE_HOME/nerf-avatar`, else `~/.cache/nerf-avatar`
    (the rule of scripts/setup.sh and of the Rust code)."""
    if "NERF_AVATAR_CACHE" in os.environ:
        return Path(os.environ["NERF_AVATAR_CACHE"])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "nerf-avatar"


def run_in_pinned_venv(name: str, packages: list, tool: str) -> None:
    """Re-executes the running script in `<cache>/<name>` holding exactly `packages`, unless
    it already runs there; `tool` names the script in error messages."""
    marker = "NERF_AVATAR_PINNED_VENV"
    if os.environ.get(marker) == name:
        return
    env_dir = cache_dir() / name
    python = env_dir / "bin" / "python"
    stamp = env_dir / "pinned.txt"
    wanted = "\n".join(packages)
    if not (python.exists() and stamp.exists() and stamp.read_text() == wanted):
        print(f"creating {env_dir} with {', '.join(packages)}", file=sys.stderr)
        venv.EnvBuilder(clear=True, with_pip=True).create(env_dir)
        install = [str(python), "-m", "pip", "install", "--quiet", *packages]
        if subprocess.run(install).returncode != 0:
            sys.exit(f"{tool}: error: could not install {', '.join(packages)} from PyPI "
                     f"into {env_dir}")
        stamp.write_text(wanted)
    env = dict(os.environ, **{marker: name})
    os.execve(str(python), [str(python), sys.argv[0], *sys.argv[1:]], env)
