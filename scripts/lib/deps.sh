# shellcheck shell=bash
# Idempotent installation of everything pushgate needs on Debian 12.
# Source it (after common.sh) and call `ensure_deps`; or run it: `bash scripts/lib/deps.sh`.
# Nothing is downloaded when every package is already installed; `apt-get update` runs only
# when something is missing.

PUSHGATE_BUILD_DEPS=(
  cmake make gcc libc6-dev clang libclang-rt-14-dev pkg-config
  libevent-dev libssl-dev libjansson-dev libpq-dev libcurl4-openssl-dev
  libqrencode-dev libcmocka-dev libjemalloc-dev
)
PUSHGATE_RUNTIME_DEPS=(
  postgresql-15 postgresql-client-15
  python3 python3-aiosmtpd python3-cryptography python3-psycopg2
  librsvg2-bin zbar-tools oathtool curl ca-certificates util-linux
  python3-jsonschema python3-yaml
)

# missing_packages PKG...: print those of PKG that are not installed.
missing_packages() {
  local p status
  for p in "$@"; do
    status="$(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null || true)"
    [ "$status" = installed ] || printf '%s\n' "$p"
  done
}

ensure_deps() {
  local missing
  mapfile -t missing < <(missing_packages "${PUSHGATE_BUILD_DEPS[@]}" "${PUSHGATE_RUNTIME_DEPS[@]}")
  if [ "${#missing[@]}" -eq 0 ]; then
    return 0
  fi
  say "installing missing packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  as_root apt-get update -qq
  as_root apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  mapfile -t missing < <(missing_packages "${PUSHGATE_BUILD_DEPS[@]}" "${PUSHGATE_RUNTIME_DEPS[@]}")
  [ "${#missing[@]}" -eq 0 ] || die "still missing after apt-get install: ${missing[*]}"
}

# ensure_npm: the repo root's pinned npm packages (package-lock.json: @redocly/cli for
# lint_openapi) in node_modules/, with the machine's Node.js and npm. `npm ci` runs only when
# package-lock.json changed since the last install (a stamp in node_modules/).
ensure_npm() {
  local lock="$PUSHGATE_ROOT/package-lock.json" stamp="$PUSHGATE_ROOT/node_modules/.pushgate-lock"
  command -v npm >/dev/null || die "npm is missing (Node.js and npm come with the machine)"
  if [ -f "$stamp" ] && [ "$(sha256sum <"$lock")" = "$(cat "$stamp")" ]; then
    return 0
  fi
  say "npm ci (package-lock.json)"
  (cd "$PUSHGATE_ROOT" && npm ci --no-audit --no-fund --loglevel=error) || die "npm ci failed"
  sha256sum <"$lock" >"$stamp"
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
  set -euo pipefail
  # shellcheck source=scripts/lib/common.sh
  . "$(dirname "${BASH_SOURCE[0]}")/common.sh"
  ensure_deps
  ensure_npm
fi
