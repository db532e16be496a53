#!/bin/sh
# Lints the demo sources: a few seconds of realistic output.
set -e
echo "\033[1mlint\033[0m ${APP:-app} ${VERSION:-dev}"
for f in src/api.rs src/ledger.rs src/refunds.rs src/webhooks.rs src/main.rs; do
  sleep 0.3
  echo "  checking $f"
done
echo "\033[33mwarning\033[0m: src/refunds.rs:88: variable 'attempt' could be immutable"
sleep 0.3
echo "\033[32m✓ 5 files, 0 errors, 1 warning\033[0m"
