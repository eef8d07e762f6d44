#!/usr/bin/env bash
# A real S3 server for Chronicle's tests: versitygw (Apache-2.0) with its
# posix backend, on 127.0.0.1 only, with fixed test credentials.
#
#   scripts/s3server.sh install   build the pinned server once into the cache
#   eval "$(scripts/s3server.sh start)"   install if needed, start, export env
#   scripts/s3server.sh stop      stop the server that start started
#
# start prints the environment lines the tests read (AWS_ENDPOINT_URL, ...,
# CHRONICLE_TEST_S3=1, CHRONICLE_S3_PIDFILE). The binary lives in
# $CHRONICLE_S3_BIN, else ~/.cache/chronicle/s3server; the server's files in
# $CHRONICLE_S3_STATE, else a temporary directory named in its pid file
# (run.PID.pid beside the binary). stop stops the server whose pid file
# $CHRONICLE_S3_PIDFILE names, and only that one.
set -euo pipefail

version=v1.8.0 # keep equal to internal/s3test.Version
access=chronicle-test
secret=chronicle-test-secret
region=us-east-1

bindir=${CHRONICLE_S3_BIN:-${XDG_CACHE_HOME:-$HOME/.cache}/chronicle/s3server}
bin=$bindir/versitygw-$version
# Each start has a pid file of its own, named in the environment it prints
# (CHRONICLE_S3_PIDFILE), so that two starts (two CI runs, two shells) never
# stop each other's server; stop stops the one that variable names.
pidfile=${CHRONICLE_S3_PIDFILE:-}

install() {
  [ -x "$bin" ] && return 0
  mkdir -p "$bindir"
  local tmp
  tmp=$(mktemp -d)
  echo "s3server: building versitygw $version (a few minutes, once)" >&2
  GOBIN=$tmp GOFLAGS= go install "github.com/versity/versitygw/cmd/versitygw@$version" >&2
  mv "$tmp/versitygw" "$bin"
  rmdir "$tmp"
}

free_port() {
  # Ask the kernel for a free port on 127.0.0.1; a race with another
  # process taking it is caught by the readiness check below.
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])' 2>/dev/null ||
    echo $((20000 + RANDOM % 20000))
}

start() {
  install
  local state=${CHRONICLE_S3_STATE:-$(mktemp -d -t chronicle-s3.XXXXXX)}
  mkdir -p "$state/root"
  local port
  port=$(free_port)
  nohup "$bin" --port "127.0.0.1:$port" --access "$access" --secret "$secret" \
    --region "$region" --quiet posix "$state/root" >"$state/server.log" 2>&1 &
  local pid=$!
  pidfile=$bindir/run.$pid.pid
  echo "$pid $state" >"$pidfile"
  for _ in $(seq 1 300); do
    if ! kill -0 "$pid" 2>/dev/null; then
      echo "s3server: versitygw exited; its log:" >&2
      cat "$state/server.log" >&2
      exit 1
    fi
    # Any HTTP answer (an anonymous request is refused with 403) means it serves.
    if curl -s -o /dev/null --max-time 1 "http://127.0.0.1:$port/"; then
      cat <<EOF
export AWS_ENDPOINT_URL=http://127.0.0.1:$port
export AWS_ACCESS_KEY_ID=$access
export AWS_SECRET_ACCESS_KEY=$secret
export AWS_REGION=$region
export CHRONICLE_TEST_S3=1
export CHRONICLE_S3_PIDFILE=$pidfile
EOF
      return 0
    fi
    sleep 0.1
  done
  echo "s3server: no answer on 127.0.0.1:$port within 30s; log in $state/server.log" >&2
  exit 1
}

stop_quietly() {
  [ -n "$pidfile" ] && [ -f "$pidfile" ] || return 0
  local pid state
  read -r pid state <"$pidfile"
  # Only our own server: the pid must still be the versitygw we started.
  if [ -n "$pid" ] && grep -q "versitygw-$version" "/proc/$pid/cmdline" 2>/dev/null; then
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  fi
  rm -f "$pidfile"
  case "$state" in */chronicle-s3.*) rm -rf "$state" ;; esac
}

case "${1:-}" in
install) install ;;
start) start ;;
stop) stop_quietly ;;
*)
  echo "usage: $0 install|start|stop" >&2
  exit 2
  ;;
esac
