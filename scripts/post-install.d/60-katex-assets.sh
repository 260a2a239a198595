#!/usr/bin/env bash
# KaTeX from the npm registry, so the docs site renders its math offline.
#
# Lesson pages write math as $...$; KaTeX's auto-render turns it into typeset formulas in the
# browser. The files come from the `katex` npm package (`npm pack`, cached outside the source
# tree) and are copied into the venv ($venv/share/lessonlib/site/assets/katex/); the mkdocs
# hook (lessonlib/site/hooks.py) adds them to the site, so a page never asks a CDN. Idempotent
# (a stamp makes the second run instant), bounded by timeouts, and never fatal: without KaTeX
# the site still builds, with the math shown as its LaTeX source.
set -uo pipefail
venv=${1:-.venv}
version=0.19.1
note() { echo "katex assets: $*"; }

[[ -d $venv ]] || { note "no venv at $venv, skipped."; exit 0; }
dest="$venv/share/lessonlib/site/assets/katex"
stamp="$dest/.lessonlib-katex"
if [[ -f $stamp && $(cat "$stamp") == "$version" && -f $dest/katex.min.js ]]; then
  exit 0  # already installed
fi
command -v npm >/dev/null 2>&1 || { note "npm is not installed, so the site shows math as LaTeX source; install nodejs/npm and rerun this script."; exit 0; }

cache_root=${LESSONLIB_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/lessonlib}
mkdir -p "$cache_root" 2>/dev/null && [[ -w $cache_root ]] || cache_root="$(pwd)/build/cache"
cache="$cache_root/katex-npm"
mkdir -p "$cache" || { note "cannot create the cache $cache, skipped."; exit 0; }
tgz="$cache/katex-$version.tgz"
if [[ ! -f $tgz ]]; then
  note "fetching katex@$version with npm pack (1.5 MB, once) into $cache"
  if ! (cd "$cache" && timeout 120 npm pack --silent --no-audit --no-fund --fetch-timeout=30000 --fetch-retries=1 "katex@$version" >/dev/null 2>"$cache/npm.log"); then
    note "npm pack failed or timed out (see $cache/npm.log); the site shows math as LaTeX source until this script is rerun."
    exit 0
  fi
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
if ! timeout 60 tar -xzf "$tgz" -C "$tmp" --strip-components=1 package/dist 2>/dev/null; then
  rm -f "$tgz"
  note "could not unpack $tgz (removed it): rerun this script."
  exit 0
fi
rm -rf "$dest" && mkdir -p "$dest/contrib"
cp "$tmp/dist/katex.min.js" "$tmp/dist/katex.min.css" "$dest/" \
  && cp "$tmp/dist/contrib/auto-render.min.js" "$dest/contrib/" \
  && cp -R "$tmp/dist/fonts" "$dest/fonts" \
  || { note "the katex package lacks its dist/ files, skipped."; rm -rf "$dest"; exit 0; }
echo "$version" >"$stamp"
note "installed KaTeX $version into $dest ($(du -sh "$dest" | cut -f1))."
