#!/usr/bin/env bash
# Create (or refresh) the virtual environment from the lock file uv.lock, with uv.
#
# uv.lock pins every dependency (exact versions and hashes), so every machine gets the same
# install. When pyproject.toml changed and uv.lock no longer matches it, the lock is
# re-resolved first (`uv lock`, keeping every pin it can) and a sentence says to commit it.
set -euo pipefail
python=${1:-python3}
venv=${2:-.venv}
uv() { PYTHON=$python bash scripts/uv.sh "$@"; }
export UV_PROJECT_ENVIRONMENT=$venv
if ! uv lock --check --python "$python" >/dev/null 2>&1; then
  echo "pyproject.toml changed but uv.lock did not: re-locking with 'uv lock' (commit uv.lock with your pyproject.toml change)."
  uv lock --python "$python" \
    || { echo "uv could not re-lock the dependencies (see above): fix pyproject.toml, then run 'make lock'."; exit 1; }
fi
echo "installing the course's locked dependencies into $venv (uv sync; first time: about a minute)"
# --compile-bytecode: uv does not write .pyc files by itself (pip did). Without them every
# lesson kernel (which runs with PYTHONDONTWRITEBYTECODE) would compile torch, matplotlib and
# pandas from source again: about 9 s of CPU per lesson. Once: 23 s; after that, under a second.
uv sync --frozen --extra dev --compile-bytecode --python "$python"
# Extra set-up steps owned by individual lessons (e.g. offline UI assets for a server).
for step in scripts/post-install.d/*.sh; do
  [[ -e $step ]] || continue
  bash "$step" "$venv"
done
