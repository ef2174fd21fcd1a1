# shellcheck shell=bash
# Helpers for scripts/demo: readable steps, shown commands, JSON field access. Source after
# common.sh.

# step TEXT: a numbered heading.
DEMO_STEP=0
step() {
  DEMO_STEP=$((DEMO_STEP + 1))
  if [ -t 1 ]; then
    printf '\n\033[1m%d. %s\033[0m\n' "$DEMO_STEP" "$*"
  else
    printf '\n%d. %s\n' "$DEMO_STEP" "$*"
  fi
}

# show_cmd TEXT: print a command as the reader would type it (variables left unexpanded).
show_cmd() { printf '   $ %s\n' "$*"; }
# show_more TEXT: a continuation line of the command before.
show_more() { printf '   %s\n' "$*"; }

# show_json: pretty-print JSON from stdin, indented under the step.
show_json() {
  "$PUSHGATE_PYTHON" -c 'import json,sys; print(json.dumps(json.load(sys.stdin), indent=2))' |
    sed 's/^/   /'
}

# json_get FIELD: the top-level string FIELD of the JSON object on stdin ("" if absent).
json_get() {
  "$PUSHGATE_PYTHON" -c 'import json,sys; v=json.load(sys.stdin).get(sys.argv[1]); print("" if v is None else v)' "$1"
}

# wait_http URL SECONDS: until URL answers 200, or fail.
wait_http() {
  local i
  for ((i = 0; i < $2 * 10; i++)); do
    curl -fsS -o /dev/null "$1" 2>/dev/null && return 0
    sleep 0.1
  done
  return 1
}
