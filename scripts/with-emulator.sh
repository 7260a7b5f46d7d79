#!/usr/bin/env bash
# Runs a command against a fresh local AWS emulator (moto server on 127.0.0.1, a free port),
# then stops the emulator by its PID, whatever the command's outcome. The server is started by
# infra/emulator/server.py, moto's server with the CloudFormation models infra/template.yaml needs
# (infra/emulator/moto_models.py), so `python -m infra.emulator deploy` can stand the stack up.
#
#   scripts/with-emulator.sh cargo test
#
# The command sees AWS_ENDPOINT_URL and dummy credentials; nothing else in the code knows it is
# talking to an emulator.
set -euo pipefail
cd "$(dirname "$0")/.."

venv=.venv
state=.local
mkdir -p "$state"

port=$("$venv/bin/python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
# One log per port: `make test` runs two emulators at once (scripts/run-tests.sh).
log="$state/moto.$port.log"
"$venv/bin/python" -m infra.emulator.server -H 127.0.0.1 -p "$port" >"$log" 2>&1 &
moto_pid=$!
# The emulator's log is kept when the command fails (its path is printed), removed otherwise.
stop() {
  local status=$?
  kill "$moto_pid" 2>/dev/null || true
  wait "$moto_pid" 2>/dev/null || true
  if [ "$status" -eq 0 ]; then rm -f "$log"; else echo "the emulator's log: $log" >&2; fi
}
trap stop EXIT

export AWS_ENDPOINT_URL="http://127.0.0.1:$port"
export AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing AWS_SESSION_TOKEN=testing
export AWS_REGION=us-east-1 AWS_DEFAULT_REGION=us-east-1 AWS_EC2_METADATA_DISABLED=true
unset AWS_PROFILE

# Up to ~30 s: the launcher imports moto's CloudFormation and its models up front (about 2 s on
# an idle machine, 5 s on a busy one).
for _ in $(seq 1 300); do
  if "$venv/bin/python" -c "import urllib.request; urllib.request.urlopen('$AWS_ENDPOINT_URL/moto-api/')" 2>/dev/null; then
    break
  fi
  if ! kill -0 "$moto_pid" 2>/dev/null; then
    echo "moto server failed to start:" >&2
    cat "$log" >&2
    exit 1
  fi
  sleep 0.1
done
echo "local AWS emulator (moto, pid $moto_pid) at $AWS_ENDPOINT_URL" >&2

"$@"
