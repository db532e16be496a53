#!/bin/sh
# Deploys to the named environment (simulated rollout with health checks).
set -e
env="$1"
echo "deploying ${APP:-app} ${VERSION:-dev} to $env"
for pct in 25 50 75 100; do
  sleep 0.6
  echo "  rollout $pct% — healthy: $((pct / 25))/4 replicas"
done
echo "\033[32m✓ $env is running ${VERSION:-dev}\033[0m"
