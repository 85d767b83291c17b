#!/usr/bin/env bash
# Vendor the YASGUI SPARQL editor into server/static/vendor/yasgui/.
#
# Why a script: the project commits no third-party source that was not installed from a
# package registry. This fetches the *built* distribution of a pinned npm release with the
# ordinary npm client, checks it against a pinned integrity hash, and copies only what the
# query editor page loads (yasgui.min.js, yasgui.min.css) plus the licence. Re-run it to
# reproduce the vendored files byte for byte; bump the pins together to upgrade.
#
# Usage: bash server/static/vendor/fetch-yasgui.sh      (needs npm, openssl, tar)
set -euo pipefail

PKG="@zazuko/yasgui"
VERSION="4.6.2"
INTEGRITY="sha512-Zw45KdPoAE1KRaAoxIHdQqeJxvaVG1oQdntw0hy0ktX35Zu8ZccuOLrXCLwR+GU+0xMzLw8Mjw6BkSZV2vUuQw=="
# @zazuko/yasgui is the maintained fork of @triply/yasgui. Its tarball declares "license": "MIT"
# in package.json but ships no licence file, so the MIT text is taken from the last
# @triply/yasgui tarball (same project, same licence; its LICENSE.txt has no copyright line).
LICENSE_PKG="@triply/yasgui"
LICENSE_VERSION="4.2.28"
LICENSE_INTEGRITY="sha512-HN1neZqERSGoDyk/Fg40nI+F0tHnaBxjqizhN0mur2Kj0oJsklBsFMRk/M+wW+ohy8dSEn7AgX3H0pPrV/wmVg=="

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
DEST="$HERE/yasgui"
TMP="$(mktemp -d)"
trap 'rm -rf "$TMP"' EXIT

fetch() {  # fetch PKG VERSION INTEGRITY -> unpacks into $TMP/<name>/package
  local pkg="$1" version="$2" integrity="$3" dir="$TMP/${1//[@\/]/_}"
  mkdir -p "$dir"
  (cd "$dir" && npm pack --silent "$pkg@$version" >/dev/null)
  local tgz
  tgz="$(ls "$dir"/*.tgz)"
  local got="sha512-$(openssl dgst -sha512 -binary "$tgz" | base64 | tr -d '\n')"
  if [[ "$got" != "$integrity" ]]; then
    echo "integrity mismatch for $pkg@$version: $got" >&2
    exit 1
  fi
  tar -xzf "$tgz" -C "$dir"
  echo "$dir/package"
}

src="$(fetch "$PKG" "$VERSION" "$INTEGRITY")"
lic="$(fetch "$LICENSE_PKG" "$LICENSE_VERSION" "$LICENSE_INTEGRITY")"

rm -rf "$DEST"
mkdir -p "$DEST"
cp "$src/build/yasgui.min.js" "$src/build/yasgui.min.css" "$DEST/"
if [[ -f "$src/LICENSE" ]]; then
  cp "$src/LICENSE" "$DEST/LICENSE"
else
  cp "$lic/LICENSE.txt" "$DEST/LICENSE"
fi
python3 - "$src/package.json" "$DEST/VERSION.json" "$INTEGRITY" <<'PY'
import json, sys
meta = json.load(open(sys.argv[1], encoding="utf-8"))
json.dump({"package": meta["name"], "version": meta["version"], "license": meta["license"],
           "integrity": sys.argv[3], "homepage": meta.get("homepage"),
           "bundled_dependencies": meta.get("dependencies", {}),
           "files": ["yasgui.min.js", "yasgui.min.css"]},
          open(sys.argv[2], "w", encoding="utf-8"), indent=2)
PY
echo "vendored $PKG@$VERSION into $DEST"
