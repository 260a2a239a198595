#!/usr/bin/env bash
# System tools the course needs: graphviz's dot (drawing graphs) and chromium (browser tests,
# screenshots). Installed with apt when running as root; otherwise one sentence says how.
set -uo pipefail
declare -A wanted=([dot]=graphviz [chromium]=chromium [bwrap]=bubblewrap)
missing=()
for tool in "${!wanted[@]}"; do
  command -v "$tool" >/dev/null 2>&1 || missing+=("${wanted[$tool]}")
done
fonts=fonts-noto-cjk
if ! dpkg -s "$fonts" >/dev/null 2>&1; then missing+=("$fonts"); fi
[[ ${#missing[@]} -eq 0 ]] && exit 0
if [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null 2>&1; then
  echo "installing system packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null && apt-get install -y -qq "${missing[@]}" >/dev/null \
    || { echo "apt-get could not install ${missing[*]}; graphs and browser tests need them."; exit 1; }
else
  echo "missing system packages: ${missing[*]}; install them with 'sudo apt-get install -y ${missing[*]}' (the lessons still run without them: graphs are written as .dot source and browser tests are skipped; a pip-only 'dot' is described in docs/course.md)."
fi
exit 0
