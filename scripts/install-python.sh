#!/usr/bin/env bash
# Create (or refresh) the virtual environment and install the course into it.
set -euo pipefail
python=${1:-python3}
venv=${2:-.venv}
if [[ ! -x $venv/bin/python ]]; then
  echo "creating $venv with $($python --version 2>&1)"
  "$python" -m venv "$venv"
fi
pip=("$venv/bin/python" -m pip --disable-pip-version-check)
"${pip[@]}" install -q --upgrade pip 'setuptools<81' wheel
echo "installing the course and its pinned dependencies into $venv (first time: a few minutes)"
"${pip[@]}" install -q --no-build-isolation -e '.[dev]'
"${pip[@]}" check
