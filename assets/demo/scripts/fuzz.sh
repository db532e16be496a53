#!/bin/sh
# A fuzzer that would run forever; the stage's timeout ends it (and its child) after its budget.
echo "fuzzing the request parser"
sleep 1000 &
i=0
while true; do
  i=$((i + 1))
  echo "  #$((i * 4096)) execs, corpus $((i + 17)), no crash"
  sleep 0.5
done
