#!/usr/bin/env bash
# See the editor as a person does: start the real app in an X window on Xvfb, drag two nodes from the
# palette onto the canvas and wire them with real mouse input (xdotool), then save a screenshot.
#
#   scripts/gui_check.sh [OUT.png]        (default build/gui-check/editor.png; the app log lands next to it)
#
# Then open the screenshot and look: two nodes, one wire between them, the second node selected in the
# inspector, both nodes with a green "done" badge after F5, the run in the log, nothing clipped. Coordinates assume the default layout at 1440x900 (fresh settings below).
set -eu
cd "$(dirname "$0")/.."
out=${1:-build/gui-check/editor.png}
mkdir -p "$(dirname "$out")"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# Fresh settings (default layout, not a first start, so no example opens) and a private data folder.
mkdir -p "$work/config/ModelWorkbench"
printf '[General]\nstarted_before=true\n' > "$work/config/ModelWorkbench/Model Workbench.conf"
export XDG_CONFIG_HOME="$work/config" WORKBENCH_DATA_DIR="$work/data"
python=${PYTHON:-.venv/bin/python}

# Palette rows after a search: the search box, the stage heading, then the first match.
SEARCH="60 76"; FIRST_MATCH="80 118"
cat > "$work/actions" <<ACTIONS
# 1. search the palette for "sample dataset" and drag the match onto the canvas
mousemove $SEARCH
click 1
type --delay 20 "sample dataset"
sleep 0.5
mousemove $FIRST_MATCH
mousedown 1
mousemove 150 150
sleep 0.2
mousemove 350 260
sleep 0.2
mousemove 440 300
sleep 0.3
mouseup 1
sleep 0.5
# 2. the same for "drop missing", dropped to the right
mousemove $SEARCH
click --repeat 3 1
type --delay 20 "drop missing"
sleep 0.5
mousemove $FIRST_MATCH
mousedown 1
mousemove 200 200
sleep 0.2
mousemove 600 360
sleep 0.2
mousemove 760 400
sleep 0.3
mouseup 1
sleep 0.5
# 3. wire: from the first node's output port (drop point + (100, 20)) to the second's input (drop point + (-100, 20))
mousemove 540 320
mousedown 1
mousemove 580 360
sleep 0.2
mousemove 640 410
sleep 0.2
mousemove 660 420
sleep 0.3
mouseup 1
sleep 0.5
# 4. click the second node to fill the inspector, then run with F5 and wait for the badges
mousemove 760 440
click 1
sleep 0.5
key F5
sleep 8
ACTIONS

/work/shared/tools/gui-shot --out "$out" --size 1440x900 --wait 6 --actions "$work/actions" --keep 1 \
  -- "$python" -m ui.app
echo "screenshot: $out"
