#!/usr/bin/env bash
# Fetch the Debian wallpaper photos listed in benchmarks/data/wallpapers.tsv into DEST
# (default ../wallpapers): apt-get download of each package at the listed version,
# dpkg-deb -x, then each listed file is copied to DEST/<relative_path> and its sha256
# checked. Licences: benchmarks/data/wallpapers-licences.md. Needs apt-get and dpkg-deb.
set -euo pipefail
cd "$(dirname "$0")/.."
DEST=${1:-../wallpapers}
LIST=benchmarks/data/wallpapers.tsv
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$DEST"
tail -n +2 "$LIST" | cut -f1,2 | sort -u | while IFS=$'\t' read -r pkg version; do
  echo "[wallpapers] $pkg $version"
  (cd "$work" && apt-get download -qq "$pkg=$version")
  mkdir -p "$work/x/$pkg"
  dpkg-deb -x "$work/${pkg}_"*.deb "$work/x/$pkg"
done
fail=0
while IFS=$'\t' read -r pkg _version rel _w _h _licence sha src _attribution; do
  mkdir -p "$DEST/$(dirname "$rel")"
  cp "$work/x/$pkg/$src" "$DEST/$rel"
  if [ "$(sha256sum "$DEST/$rel" | cut -d' ' -f1)" != "$sha" ]; then
    echo "[wallpapers] sha256 mismatch: $rel" >&2
    fail=1
  fi
done < <(tail -n +2 "$LIST")
[ "$fail" = 0 ] && echo "[wallpapers] $(($(wc -l < "$LIST") - 1)) photos in $DEST"
exit "$fail"
