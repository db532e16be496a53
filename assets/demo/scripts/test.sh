#!/bin/sh
# Unit tests for one Node version. Node 18 fails once per run (a flaky test) and passes on retry.
# Like jest with jest-junit and --coverage, it leaves JUnit XML and an LCOV tracefile in reports/,
# which the release gate in front of production reads.
node="$1"
mkdir -p reports
junit="reports/junit-node$node.xml"
cases=""
total=0
echo "running the test suite on node $node"
i=0
for suite in api ledger refunds webhooks; do
  i=$((i + 1))
  sleep 0.4
  n=$((i * 7 + ${#node}))
  echo "  \033[32mPASS\033[0m test/$suite.test.js ($n tests)"
  cases="$cases  <testsuite name=\"test/$suite.test.js\" errors=\"0\" failures=\"0\" skipped=\"0\" time=\"0.4\" tests=\"$n\">\n"
  t=1
  while [ "$t" -le "$n" ]; do
    cases="$cases    <testcase classname=\"$suite case $t\" name=\"$suite case $t\" time=\"0.01\"></testcase>\n"
    t=$((t + 1))
  done
  cases="$cases  </testsuite>\n"
  total=$((total + n))
done
if [ "$node" = "18" ] && [ "${FLIGHTDECK_ATTEMPT:-1}" = "1" ]; then
  echo "  \033[31mFAIL\033[0m test/timeouts.test.js" >&2
  echo "    Error: expected settlement within 500ms, took 731ms" >&2
  echo "    at Object.<anonymous> (test/timeouts.test.js:42:7)" >&2
  cases="$cases  <testsuite name=\"test/timeouts.test.js\" errors=\"0\" failures=\"1\" skipped=\"0\" time=\"0.8\" tests=\"1\">\n"
  cases="$cases    <testcase classname=\"timeouts settles in time\" name=\"timeouts settles in time\" time=\"0.73\">\n"
  cases="$cases      <failure>Error: expected settlement within 500ms, took 731ms\n    at Object.&lt;anonymous&gt; (test/timeouts.test.js:42:7)</failure>\n    </testcase>\n  </testsuite>\n"
  printf '<?xml version="1.0" encoding="UTF-8"?>\n<testsuites name="jest tests" tests="%s" failures="1" errors="0">\n%b</testsuites>\n' "$((total + 1))" "$cases" > "$junit"
  exit 1
fi
sleep 0.3
echo "  \033[32mPASS\033[0m test/timeouts.test.js (3 tests)"
cases="$cases  <testsuite name=\"test/timeouts.test.js\" errors=\"0\" failures=\"0\" skipped=\"0\" time=\"0.3\" tests=\"3\">\n"
for t in 1 2 3; do
  cases="$cases    <testcase classname=\"timeouts case $t\" name=\"timeouts case $t\" time=\"0.1\"></testcase>\n"
done
cases="$cases  </testsuite>\n"
total=$((total + 3))
printf '<?xml version="1.0" encoding="UTF-8"?>\n<testsuites name="jest tests" tests="%s" failures="0" errors="0">\n%b</testsuites>\n' "$total" "$cases" > "$junit"
echo "\033[1mTests: $total passed, $total total\033[0m"

# Coverage: which lines of each source file the tests ran (every seventh line of the ledger, and
# the refunds' error paths, were not).
lcov="reports/coverage-node$node.info"
: > "$lcov"
for file in api:120 ledger:210 refunds:90 webhooks:60; do
  name=${file%%:*}
  lines=${file##*:}
  hit=0
  echo "SF:src/$name.js" >> "$lcov"
  l=1
  while [ "$l" -le "$lines" ]; do
    count=3
    if [ "$name" = ledger ] && [ $((l % 7)) -eq 0 ]; then count=0; fi
    if [ "$name" = refunds ] && [ "$l" -gt 70 ]; then count=0; fi
    [ "$count" -gt 0 ] && hit=$((hit + 1))
    echo "DA:$l,$count" >> "$lcov"
    l=$((l + 1))
  done
  echo "LF:$lines" >> "$lcov"
  echo "LH:$hit" >> "$lcov"
  echo "end_of_record" >> "$lcov"
done
echo "coverage written to $lcov"
