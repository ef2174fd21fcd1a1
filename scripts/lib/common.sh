# shellcheck shell=bash
# Shared helpers for scripts/*. Source it; it sets PUSHGATE_ROOT to the repository root
# (whatever the caller's cwd is) and defines small logging helpers.

PUSHGATE_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
export PUSHGATE_ROOT

# Debian's interpreter: the python3 first on PATH may be a separate build that cannot
# import Debian's python3-* packages (aiosmtpd, cryptography).
PUSHGATE_PYTHON=/usr/bin/python3
PG_BIN=/usr/lib/postgresql/15/bin

say() { printf '==> %s\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

# as_root CMD...: run CMD as root (directly when we are root, else through sudo).
as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}
