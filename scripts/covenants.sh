# shellcheck shell=bash
# Sourced by scripts/demo and scripts/bench-national: the privacy officers' part of a run.
#
#   sign_covenants BIN TEMPLATES KEYS OUT COVENANT...
#
# For every COVENANT, the template TEMPLATES/COVENANT.yaml (see policies/) gets a key pair for
# each privacy officer it names (made once, in KEYS, beside the parties' keys the template's
# placeholders refer to), is filled in as OUT/COVENANT.yaml and signed by every officer it lists
# (OUT/COVENANT.yaml.sig). Prints `koppel policy verify` of each, indented. BIN holds `koppel`.

# The officers a covenant template names, one a line: po-almelo for <po-almelo.key.pub>.
covenant_officers() {
  grep -o '<po-[a-z0-9._-]*\.key\.pub>' "$1" | sort -u | sed 's/^<\(.*\)\.key\.pub>$/\1/'
}

sign_covenants() {
  local bin="$1" templates="$2" keys="$3" out="$4"
  shift 4
  local covenant officer officers
  for covenant in "$@"; do
    officers="$(covenant_officers "$templates/$covenant.yaml")"
    for officer in $officers; do
      [ -f "$keys/$officer.key" ] || "$bin/koppel" policy keygen --out "$keys/$officer.key" > /dev/null
    done
    "$bin/koppel" policy fill-keys --keys "$keys" --out "$out/$covenant.yaml" "$templates/$covenant.yaml"
    for officer in $officers; do
      "$bin/koppel" policy sign --key "$keys/$officer.key" "$out/$covenant.yaml" > /dev/null
    done
    "$bin/koppel" policy verify "$out/$covenant.yaml" | sed 's/^/   /'
  done
}
