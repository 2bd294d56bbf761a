#!/usr/bin/env bash
# Make sure the replica tests have Redis: the redis-server binary (installed with apt-get when
# missing and we are root) and a server answering on 127.0.0.1:6379 (started, without
# persistence, when none answers). Says what it did; when it cannot, says why, and the tests
# that need Redis then skip naming the reason.
set -uo pipefail

say() { echo "[redis] $*"; }

if ! command -v redis-server > /dev/null; then
    if [[ $(id -u) -eq 0 ]] && command -v apt-get > /dev/null; then
        say "redis-server missing: installing it with apt-get"
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server > /dev/null \
            || { apt-get update -qq > /dev/null \
                 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server > /dev/null; } \
            || say "could not install redis-server; the Redis tests will skip and say so"
    else
        say "redis-server missing and cannot be installed here; the Redis tests will skip and say so"
    fi
fi

answers() { (exec 3<>/dev/tcp/127.0.0.1/6379 && printf 'PING\r\n' >&3 && head -c 5 <&3 | grep -q PONG) 2> /dev/null; }

if answers; then
    say "a Redis answers on 127.0.0.1:6379"
elif command -v redis-server > /dev/null; then
    say "no Redis on 127.0.0.1:6379: starting one (no persistence)"
    redis-server --port 6379 --bind 127.0.0.1 --save "" --appendonly no --daemonize yes > /dev/null
    for _ in $(seq 50); do answers && break; sleep 0.1; done
    answers && say "started" || say "could not start redis-server; the Redis tests will skip and say so"
fi
exit 0
