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
# setuptools < 81 still ships pkg_resources, which visdom 0.2.4's sdist needs to build;
# --no-build-isolation makes every build use it (visdom 0.3.0 needs Python >= 3.12).
"${pip[@]}" install -q --upgrade pip 'setuptools<81' wheel
echo "installing the course and its pinned dependencies into $venv (first time: a few minutes)"
"${pip[@]}" install -q --no-build-isolation -e '.[dev]'
"${pip[@]}" check
# Extra set-up steps owned by individual lessons (e.g. offline UI assets for a server).
for step in scripts/post-install.d/*.sh; do
  [[ -e $step ]] || continue
  bash "$step" "$venv"
done
