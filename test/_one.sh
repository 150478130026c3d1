#!/usr/bin/env bash
# Runs single test files: bash test/_one.sh test/x.test.ts
exec npx mocha --no-config --node-option import=tsx/esm --timeout 120000 --exit "$@"
