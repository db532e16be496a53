#!/bin/sh
# Deploys to the named environment. In production, when the demo's NGINX canary is running, the
# new version goes out through it: `flightdeck rollout start` moves traffic step by step, judged by
# the canary analysis, and this stage ends when the rollout is promoted (or fails when it aborts).
set -e
env="$1"
echo "deploying ${APP:-app} ${VERSION:-dev} to $env"
if [ "$env" = prod ] && [ -n "$FLIGHTDECK" ] && "$FLIGHTDECK" rollouts >/dev/null 2>&1; then
  echo "handing over to the canary rollout of ${APP:-app} (watch it on the releases screen, 6)"
  exec "$FLIGHTDECK" rollout start "${APP:-app}" --version "${VERSION:-dev}" \
    ${STABLE_VERSION:+--stable-version "$STABLE_VERSION"} --follow --yes \
    --reason "release pipeline run #${FLIGHTDECK_RUN_ID:-?}"
fi
for pct in 25 50 75 100; do
  sleep 0.6
  echo "  rollout $pct% — healthy: $((pct / 25))/4 replicas"
done
echo "\033[32m✓ $env is running ${VERSION:-dev}\033[0m"
