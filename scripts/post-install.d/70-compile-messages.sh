#!/usr/bin/env bash
# Compile the CLI's message catalogs (lessonlib/locale/*/LC_MESSAGES/lessonlib.po -> .mo) with
# Babel, so `lessonlib --lang ko` reads a compiled catalog. Never fatal: without a .mo the CLI
# compiles the .po in memory (lessonlib/messages.py).
set -uo pipefail
venv=${1:-.venv}
[[ -x $venv/bin/pybabel ]] || { echo "messages: no pybabel in $venv, skipped."; exit 0; }
"$venv/bin/pybabel" compile -D lessonlib -d lessonlib/locale --use-fuzzy >/dev/null 2>&1 \
  || echo "messages: compile failed; the CLI compiles the catalogs at run time."
exit 0
