# Sourced by the CLI tests that render a report in headless Chromium. `render_report HTML PNG`
# writes HTML's DOM, as Chromium built it, to $work/dom.html and a screenshot of the page to PNG;
# without Chromium the test is skipped (exit 77). Needs $work.
render_report() {
  if ! command -v chromium > /dev/null; then
    echo "chromium is not installed (scripts/setup.sh installs it): report rendering not checked"
    exit 77
  fi
  local flags=(--headless --no-sandbox --disable-gpu --disable-dev-shm-usage --user-data-dir="$work/chromium")
  timeout 120 chromium "${flags[@]}" --dump-dom "file://$1" 2> /dev/null > "$work/dom.html"
  timeout 120 chromium "${flags[@]}" --window-size=1400,2400 --screenshot="$2" "file://$1" 2> /dev/null
  # A blank 1400x2400 page compresses to a few kB; curves, text and heat maps make tens of kB.
  local size
  size=$(stat -c %s "$2")
  echo "screenshot $2: $size bytes"
  [ "$size" -ge 30000 ] || { echo "FAIL: $2 looks blank"; exit 1; }
}

# How many times the rendered page holds a string.
count_in_dom() { grep -oF -- "$1" "$work/dom.html" | wc -l; }
