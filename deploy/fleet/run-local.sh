#!/bin/sh
# A whole fleet on this machine, against the fake upstream (no key, loopback only):
# 1 API process on :8000, 3 workers (probes on :8101-8103), the fake on :8900.
# Needs PostgreSQL; DATABASE_URL defaults to a local database "slidebatch_fleet"
# (created with `createdb slidebatch_fleet` or: psql -c 'CREATE DATABASE slidebatch_fleet').
# Stop with Ctrl-C: every process started here is stopped.
set -eu
: "${DATABASE_URL:=postgresql://postgres@127.0.0.1:5432/slidebatch_fleet}"
: "${FLEET_DIR:=./fleet-data}"
export DATABASE_URL
export DATA_DIR="$FLEET_DIR/data" LOG_DIR="$FLEET_DIR/logs"
export IMAGE_PROVIDER=openrouter LLM_API_BASE=http://127.0.0.1:8900/api/v1 LLM_API_KEY=sk-fake
export UPSTREAM_RPM=20 UPSTREAM_RATE_WINDOW_SECONDS=6 FLEET_LEASE_SECONDS=10
pids=""
trap 'kill $pids 2>/dev/null; wait' INT TERM EXIT
slidebatch fake-upstream --port 8900 --rpm 20 --window 60 --time-scale 0.1 \
    --latency-median 9 --latency-p95 20 & pids="$pids $!"
slidebatch serve --no-worker --port 8000 & pids="$pids $!"
for port in 8101 8102 8103; do
    slidebatch worker --port "$port" & pids="$pids $!"
done
echo "fleet up: http://127.0.0.1:8000 (workers' probes on 8101-8103); Ctrl-C stops it"
wait
