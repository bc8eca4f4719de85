#!/usr/bin/env bash
# The till's translations are complete: German has every string of the sources translated, and
# English every plural form ("1 point", "2 points"). Runs lupdate on copies, so a string added
# to the sources without a translation fails here, not at a German till.
#   check_translations.sh LUPDATE SOURCE...   (run in ui/; the sources as ui/CMakeLists.txt lists them)
set -euo pipefail
lupdate=$1
shift
ui=$PWD
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cp "$ui"/translations/accrue_till_de.ts "$ui"/translations/accrue_till_en.ts "$work"/
"$lupdate" -silent -no-obsolete -locations none "$@" \
  -ts "$work"/accrue_till_de.ts "$work"/accrue_till_en.ts
status=0
if ! cmp -s "$work"/accrue_till_de.ts "$ui"/translations/accrue_till_de.ts; then
  echo "ui/translations/accrue_till_de.ts is not up to date with the sources:" \
    "cmake --build <build dir> --target update_translations, then translate" >&2
  diff "$ui"/translations/accrue_till_de.ts "$work"/accrue_till_de.ts | head -40 >&2 || true
  status=1
fi
if grep -q 'type="unfinished"' "$work"/accrue_till_de.ts; then
  echo "German strings without a translation:" >&2
  grep -B2 'type="unfinished"' "$work"/accrue_till_de.ts | grep '<source>' >&2
  status=1
fi
# English: only the plural forms are translated (the rest is the source text itself).
if python3 - "$work"/accrue_till_en.ts <<'PY'
import sys, xml.etree.ElementTree as ET
bad = [m.find('source').text for m in ET.parse(sys.argv[1]).getroot().iter('message')
       if m.get('numerus') == 'yes' and m.find('translation').get('type') == 'unfinished']
print('\n'.join(bad), file=sys.stderr)
sys.exit(1 if bad else 0)
PY
then :; else
  echo "English plural forms missing (above)" >&2
  status=1
fi
exit $status
