#!/bin/sh
# Unit tests for one Node version. Node 18 fails once per run (a flaky test) and passes on retry.
node="$1"
echo "running the test suite on node $node"
i=0
for suite in api ledger refunds webhooks; do
  i=$((i + 1))
  sleep 0.4
  echo "  \033[32mPASS\033[0m test/$suite.test.js ($((i * 7 + ${#node})) tests)"
done
if [ "$node" = "18" ] && [ "${FLIGHTDECK_ATTEMPT:-1}" = "1" ]; then
  echo "  \033[31mFAIL\033[0m test/timeouts.test.js" >&2
  echo "    Error: expected settlement within 500ms, took 731ms" >&2
  echo "    at Object.<anonymous> (test/timeouts.test.js:42:7)" >&2
  exit 1
fi
sleep 0.3
echo "  \033[32mPASS\033[0m test/timeouts.test.js (3 tests)"
echo "\033[1mTests: 31 passed, 31 total\033[0m"
