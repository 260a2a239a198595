#!/usr/bin/env bash
# Visdom's UI assets from the npm registry, so `lessonlib visdom` serves its UI offline.
#
# visdom 0.2.4's pip package ships only its own main.js; on first start its server downloads
# jQuery, React, Plotly, MathJax ... from CDNs, and offline it crashes. Every one of those
# files is an npm package: `npm pack` them into a cache (never into the source tree), copy
# each file to the name visdom expects and write static/version.built, so the server finds
# everything and downloads nothing. Idempotent (a stamp makes the second run instant),
# bounded by timeouts, and never fatal: without the assets the server and its Python client
# still work (the lesson runs, without screenshots of the page).
set -uo pipefail
venv=${1:-.venv}
py="$venv/bin/python"
note() { echo "visdom assets: $*"; }

[[ -x $py ]] || { note "no python at $py, skipped."; exit 0; }
pkg=$(timeout 60 "$py" -c 'import importlib.util, os; s = importlib.util.find_spec("visdom"); print(os.path.dirname(s.origin) if s else "")' 2>/dev/null)
[[ -n $pkg && -d $pkg ]] || { note "visdom is not installed in $venv, skipped."; exit 0; }
version=$(cat "$pkg/VERSION" 2>/dev/null || echo unknown)
static="$pkg/static"

# name@version of each package, and where each file goes (relative to static/).
packages=(
  jquery@3.1.1 bootstrap@3.3.7 react@16.2.0 react-dom@16.2.0 react-modal@3.1.10
  plotly.js-dist-min@2.11.1 sjcl@1.0.7 layout-bin-packer@1.4.0 d3@3.5.17
  d3-selection-multi@1.0.1 save-svg-as-png@1.4.17 react-resizable@1.4.6
  react-grid-layout@0.16.3 classnames@2.2.5 mathjax@2.7.5
)
files=(
  "jquery/dist/jquery.min.js js/jquery.min.js"
  "bootstrap/dist/js/bootstrap.min.js js/bootstrap.min.js"
  "react/umd/react.production.min.js js/react-react.min.js"
  "react-dom/umd/react-dom.production.min.js js/react-dom.min.js"
  "react-modal/dist/react-modal.min.js js/react-modal.min.js"
  "plotly.js-dist-min/plotly.min.js js/plotly-plotly.min.js"
  "sjcl/sjcl.js js/sjcl.js"
  "layout-bin-packer/dist/layout-bin-packer.js.map js/layout-bin-packer.js.map"
  "layout-bin-packer/dist/layout-bin-packer.js js/layout_bin_packer.js"
  "d3/d3.min.js js/d3.v3.min.js"
  "d3-selection-multi/build/d3-selection-multi.js js/d3-selection-multi.v1.js"
  "save-svg-as-png/lib/saveSvgAsPng.js js/saveSvgAsPng.js"
  "react-resizable/css/styles.css css/react-resizable-styles.css"
  "react-grid-layout/css/styles.css css/react-grid-layout-styles.css"
  "bootstrap/dist/css/bootstrap.min.css css/bootstrap.min.css"
  "classnames/index.js fonts/classnames"
  "bootstrap/dist/fonts/glyphicons-halflings-regular.eot fonts/glyphicons-halflings-regular.eot"
  "bootstrap/dist/fonts/glyphicons-halflings-regular.woff2 fonts/glyphicons-halflings-regular.woff2"
  "bootstrap/dist/fonts/glyphicons-halflings-regular.woff fonts/glyphicons-halflings-regular.woff"
  "bootstrap/dist/fonts/glyphicons-halflings-regular.ttf fonts/glyphicons-halflings-regular.ttf"
  "bootstrap/dist/fonts/glyphicons-halflings-regular.svg fonts/glyphicons-halflings-regular.svg"
  "bootstrap/dist/fonts/glyphicons-halflings-regular.svg fonts/glyphicons-halflings-regular.svg#glyphicons_halflingsregular"
)
# MathJax: the loader, its configs, extensions, input/output jax, English strings and the
# TeX web fonts; the unminified copy, the image fonts and the tests are left out.
mathjax_parts=(MathJax.js config extensions jax localization/en fonts/HTML-CSS/TeX/woff fonts/HTML-CSS/TeX/otf)

stamp_value="$version $(printf '%s ' "${packages[@]}" | sha256sum | cut -c1-12)"
stamp="$static/.lessonlib-assets"
if [[ -f $stamp && $(cat "$stamp") == "$stamp_value" && -f $static/version.built && -f $static/js/mathjax/2.7.5/MathJax.js ]]; then
  exit 0  # already installed
fi

command -v npm >/dev/null 2>&1 || { note "npm is not installed, so Visdom's page would stay blank offline (the lesson still runs, without screenshots); install nodejs/npm and rerun this script to get the UI."; exit 0; }
[[ -w $static ]] || { note "$static is not writable, skipped (Visdom's page will stay blank)."; exit 0; }

cache_root=${LESSONLIB_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/lessonlib}
mkdir -p "$cache_root" 2>/dev/null && [[ -w $cache_root ]] || cache_root="$(pwd)/build/cache"
cache="$cache_root/visdom-npm"
mkdir -p "$cache/tgz" "$cache/unpacked" || { note "cannot create the cache $cache, skipped."; exit 0; }

missing=()
for spec in "${packages[@]}"; do
  name=${spec%@*}; ver=${spec##*@}
  [[ -f $cache/tgz/$name-$ver.tgz ]] || missing+=("$spec")
done
if ((${#missing[@]})); then
  note "fetching ${#missing[@]} packages with npm pack (about 25 MB, once) into $cache"
  if ! (cd "$cache/tgz" && timeout 180 npm pack --silent --no-audit --no-fund --fetch-timeout=30000 --fetch-retries=1 "${missing[@]}" >/dev/null 2>"$cache/npm.log"); then
    note "npm pack failed or timed out (see $cache/npm.log), so Visdom's UI is not installed (the lesson still runs, without screenshots); rerun this script later."
    exit 0
  fi
fi

for spec in "${packages[@]}"; do
  name=${spec%@*}; ver=${spec##*@}
  dest="$cache/unpacked/$name"
  if [[ ! -f $dest/.version || $(cat "$dest/.version") != "$ver" ]]; then
    rm -rf "$dest" && mkdir -p "$dest"
    if ! timeout 120 tar -xzf "$cache/tgz/$name-$ver.tgz" -C "$dest" --strip-components=1 --warning=no-unknown-keyword 2>>"$cache/tar.log"; then
      rm -f "$cache/tgz/$name-$ver.tgz"
      note "could not unpack $name-$ver.tgz (removed it): rerun this script."
      exit 0
    fi
    echo "$ver" >"$dest/.version"
  fi
done

mkdir -p "$static/js" "$static/css" "$static/fonts"
for pair in "${files[@]}"; do
  src=${pair%% *}; dst=${pair#* }
  cp -f "$cache/unpacked/$src" "$static/$dst" || { note "missing $src in the npm package, the UI is incomplete."; exit 0; }
done
mj="$static/js/mathjax/2.7.5"
rm -rf "$mj" && mkdir -p "$mj"
for part in "${mathjax_parts[@]}"; do
  mkdir -p "$mj/$(dirname "$part")"
  cp -R "$cache/unpacked/mathjax/$part" "$mj/$part"
done
echo "$version" >"$static/version.built"
echo "$stamp_value" >"$stamp"
note "installed into $static ($(du -sh "$static" | cut -f1)); 'lessonlib visdom' now serves its UI offline."
