#!/usr/bin/env bash
# Run the project's pinned uv, bootstrapping it with pip into .tools/uv the first time.
#   bash scripts/uv.sh lock            # what `make lock` runs (with --upgrade)
# PYTHON picks the interpreter that runs pip (default python3).
set -euo pipefail
uv_version=0.13.9
tools=${LESSONLIB_TOOLS:-.tools}/uv
uv=$tools/bin/uv
if [[ ! -x $uv || $("$uv" --version 2>/dev/null | cut -d' ' -f2) != "$uv_version" ]]; then
  echo "bootstrapping uv $uv_version into $tools (pip, once)" >&2
  "${PYTHON:-python3}" -m venv "$tools"
  "$tools/bin/python" -m pip install -q --disable-pip-version-check "uv==$uv_version" >&2
fi
exec "$uv" "$@"
