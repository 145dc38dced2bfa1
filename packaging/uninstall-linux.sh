#!/usr/bin/env bash
# Remove exactly what packaging/install-linux.sh installed under PREFIX (default ~/.local).
set -euo pipefail
prefix=${1:-"$HOME/.local"}
appdir="$prefix/lib/model-workbench"
manifest="$appdir/.installed-files"
[ -f "$manifest" ] || { echo "uninstall: nothing installed under $prefix" >&2; exit 1; }
rm_list=$(cat "$manifest")
rm -rf -- "$appdir"
while IFS= read -r path; do
  case "$path" in
    "$prefix/share/mime/") rm -rf -- "$prefix/share/mime" ;;  # we created it: all in it is ours or derived
    "$prefix"/*/|"$prefix/") rmdir -- "${path%/}" 2>/dev/null || true ;;  # a folder install created, if empty
    "$prefix"/*) rm -f -- "$path" ;;
    *) echo "uninstall: skipping $path (outside $prefix)" >&2 ;;
  esac
done <<< "$rm_list"
command -v update-mime-database >/dev/null && [ -d "$prefix/share/mime" ] && update-mime-database "$prefix/share/mime" >/dev/null 2>&1 || true
command -v update-desktop-database >/dev/null && [ -d "$prefix/share/applications" ] && update-desktop-database "$prefix/share/applications" >/dev/null 2>&1 || true
echo "removed Model Workbench from $prefix"
