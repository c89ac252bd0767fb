#!/usr/bin/env bash
# Install the browser libraries the API serves itself (Leaflet for the map page at /, Swagger UI for /docs) from the
# npm registry, pinned by package-lock.json, and copy their dist files into api/static/vendor/. No CDN at run time.
# Installs Debian's npm when the machine has none. Idempotent: does nothing when the copied files match the lock.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
vendor="$here/api/static/vendor"
stamp="$vendor/.lock-sha256"
want=$(cat "$here/package-lock.json" "$0" | sha256sum | cut -d' ' -f1)  # the lock and this script
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] && [ -f "$vendor/leaflet/leaflet.js" ] \
   && [ -f "$vendor/swagger-ui/swagger-ui-bundle.js" ]; then
  exit 0
fi
if ! command -v npm >/dev/null 2>&1; then
  sudo_=""; [ "$(id -u)" = 0 ] || sudo_="sudo"
  echo "installing Debian's npm (for the map and docs pages' libraries) ..." >&2
  $sudo_ apt-get update -qq >&2 && DEBIAN_FRONTEND=noninteractive $sudo_ apt-get install -y -qq npm >&2
fi
cd "$here"
# --ignore-scripts: no package runs code at install (swagger-ui-dist pulls an analytics post-install script)
npm ci --ignore-scripts --no-audit --no-fund --loglevel=error >&2
rm -rf "$vendor.tmp" && mkdir -p "$vendor.tmp/leaflet" "$vendor.tmp/swagger-ui"
cp -r node_modules/leaflet/dist/leaflet.js node_modules/leaflet/dist/leaflet.css node_modules/leaflet/dist/images \
  node_modules/leaflet/LICENSE "$vendor.tmp/leaflet/"
for f in swagger-ui-bundle.js swagger-ui.css favicon-32x32.png LICENSE; do
  cp "node_modules/swagger-ui-dist/$f" "$vendor.tmp/swagger-ui/"
done
# pre-compressed copies: aiohttp serves file.js.gz to clients that accept gzip (Swagger UI: 1.4 MB -> ~0.4 MB)
find "$vendor.tmp" -type f \( -name '*.js' -o -name '*.css' \) -exec gzip -k -9 {} +
echo "$want" > "$vendor.tmp/.lock-sha256"
rm -rf "$vendor" && mv "$vendor.tmp" "$vendor"
echo "web assets installed in api/static/vendor (leaflet, swagger-ui)" >&2
