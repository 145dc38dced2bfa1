#!/usr/bin/env bash
# Install the built app (dist/ModelWorkbench) for one user, or under a prefix:
#   packaging/install-linux.sh [PREFIX]        (default PREFIX: ~/.local)
# Registers the launcher entry, its icons and the pipeline-file MIME type (*.pipeline.json) so a double-click
# opens pipelines in the app. Every file written is listed in PREFIX/lib/model-workbench/.installed-files,
# which packaging/uninstall-linux.sh removes exactly.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
prefix=${1:-"$HOME/.local"}
dist=${MODEL_WORKBENCH_DIST:-"$root/dist/ModelWorkbench"}
[ -x "$dist/model-workbench" ] || { echo "install: build first: python packaging/build.py" >&2; exit 1; }

appdir="$prefix/lib/model-workbench"
manifest="$appdir/.installed-files"
if [ -e "$appdir" ]; then
  "$here/uninstall-linux.sh" "$prefix" >/dev/null
fi
created=()
mkd() {  # mkdir -p that remembers which folders it created, so uninstall removes those (when empty) too
  local d=$1 missing=()
  while [ ! -d "$d" ]; do missing=("$d" "${missing[@]}"); d=$(dirname "$d"); done
  for d in "${missing[@]}"; do mkdir "$d"; created+=("$d/"); done
}
mkd "$appdir"; mkd "$prefix/bin"; mkd "$prefix/share/applications"; mkd "$prefix/share/mime/packages"
cp -a "$dist/." "$appdir/"
: > "$appdir/.installed-files.tmp"
manifest_tmp="$appdir/.installed-files.tmp"
record() { printf '%s\n' "$1" >> "$manifest_tmp"; }

ln -sfn "$appdir/model-workbench" "$prefix/bin/model-workbench"; record "$prefix/bin/model-workbench"
sed "s|^Exec=model-workbench|Exec=$appdir/model-workbench|" "$here/linux/model-workbench.desktop" \
  > "$prefix/share/applications/model-workbench.desktop"
record "$prefix/share/applications/model-workbench.desktop"
cp "$here/linux/model-workbench-mime.xml" "$prefix/share/mime/packages/model-workbench.xml"
record "$prefix/share/mime/packages/model-workbench.xml"
for png in "$here"/icons/png/model-workbench-*.png; do
  [ -e "$png" ] || continue
  size=$(basename "$png" .png); size=${size##*-}
  dir="$prefix/share/icons/hicolor/${size}x${size}/apps"; mkd "$dir"
  cp "$png" "$dir/model-workbench.png"; record "$dir/model-workbench.png"
done
if [ -e "$here/icons/model-workbench.svg" ]; then
  dir="$prefix/share/icons/hicolor/scalable/apps"; mkd "$dir"
  cp "$here/icons/model-workbench.svg" "$dir/model-workbench.svg"; record "$dir/model-workbench.svg"
fi
# Folders last, deepest first, so uninstall can rmdir them in order.
for (( i=${#created[@]}-1; i>=0; i-- )); do [ "${created[$i]}" = "$appdir/" ] || record "${created[$i]}"; done
mv "$manifest_tmp" "$manifest"

command -v update-mime-database >/dev/null && update-mime-database "$prefix/share/mime" >/dev/null 2>&1 || true
command -v update-desktop-database >/dev/null && update-desktop-database "$prefix/share/applications" >/dev/null 2>&1 || true
command -v xdg-mime >/dev/null && xdg-mime default model-workbench.desktop application/x-model-workbench-pipeline >/dev/null 2>&1 || true
echo "installed Model Workbench in $appdir (run: $prefix/bin/model-workbench)"
