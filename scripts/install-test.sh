#!/usr/bin/env bash
# The real user path, end to end: pack lstm-native and its linux-x64-gnu platform package as npm would publish them,
# install both into a fresh project with no Rust toolchain on PATH and npm offline, then type-check (strict) and run
# a TypeScript program (test/fixtures/install-app/main.ts) that trains, saves, loads and predicts, and every
# examples/*.mts (the code shown in README.md and docs/).
# Needs `npm run build` first (dist/ and lstm-native.linux-x64-gnu.node); .ci/run calls it after `npm test`.
# Exits non-zero on any problem; keeps its work folder when it fails.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"

TUPLE=linux-x64-gnu
BINARY=lstm-native.$TUPLE.node
T_START=$(date +%s%N)
declare -a TIMINGS=()
ms_since() { echo $((($(date +%s%N) - $1) / 1000000)); }
timed() { # timed <label> <command...>: runs the command, records how long it took, returns its status
  local label=$1 t rc=0
  shift
  t=$(date +%s%N)
  "$@" || rc=$?
  TIMINGS+=("$(printf '%-44s %7d ms' "$label" "$(ms_since "$t")")")
  return $rc
}
fail() {
  echo "install-test: FAILED: $*" >&2
  exit 1
}

WORK=$(mktemp -d "${TMPDIR:-/tmp}/lstm-native-install-test.XXXXXX")
trap 'rc=$?; if [ $rc -eq 0 ]; then rm -rf "$WORK"; else echo "install-test: work folder kept for inspection: $WORK" >&2; fi' EXIT
echo "work folder: $WORK"

echo "== preconditions"
[ "$(node -p 'process.platform + "-" + process.arch')" = linux-x64 ] || fail "this test installs the $TUPLE platform package; this machine is $(node -p 'process.platform + "-" + process.arch')"
for f in dist/index.js dist/index.mjs dist/index.d.ts dist/index.d.mts dist/cli.js index.d.ts "$BINARY"; do
  [ -f "$f" ] || fail "$f is missing: run \`npm run build\` first"
done
# Packing a dist older than src/ would test yesterday's code.
NEWER_SRC=$(find src -type f ! -name '*.d.ts' -newer dist/index.js | head -3)
[ -z "$NEWER_SRC" ] || fail "dist/ is older than $(echo "$NEWER_SRC" | tr '\n' ' '): run \`npm run build:ts\`"
VERSION=$(node -p 'require("./package.json").version')
echo "lstm-native $VERSION, node $(node --version), npm $(npm --version)"

echo "== a. npm pack"
# --ignore-scripts: `npm pack` would run `prepare` (= npm run build, i.e. cargo); the build has been done already.
mkdir -p "$WORK/repo-pack" "$WORK/stage" "$WORK/tarballs"
timed "npm pack (main package, as in the repo)" \
  npm pack --ignore-scripts --json --pack-destination "$WORK/repo-pack" >"$WORK/repo-pack.json" 2>"$WORK/repo-pack.log" || { cat "$WORK/repo-pack.log" >&2; fail "npm pack"; }
REPO_TGZ="$WORK/repo-pack/lstm-native-$VERSION.tgz"
[ -f "$REPO_TGZ" ] || fail "npm pack wrote no $REPO_TGZ"

# Report the size and file list, and check nothing but dist, index.d.ts, data, README.md and package.json ships.
check_tarball() { # check_tarball <tgz> <npm pack json>
  node - "$1" "$2" <<'EOF'
const { readFileSync, statSync } = require('node:fs')
const { execFileSync } = require('node:child_process')
const [tgz, json] = process.argv.slice(2)
const [info] = JSON.parse(readFileSync(json, 'utf8'))
const listed = info.files.map((f) => f.path).sort()
const inTar = execFileSync('tar', ['tzf', tgz], { encoding: 'utf8' }).split('\n').filter((l) => l && !l.endsWith('/')).map((l) => l.replace(/^package\//, '')).sort()
const kb = (n) => `${(n / 1024).toFixed(1)} KiB`
console.log(`${info.filename}: ${statSync(tgz).size} bytes (${kb(statSync(tgz).size)}) packed, ${kb(info.unpackedSize)} unpacked, ${inTar.length} files:`)
for (const f of info.files) console.log(`  ${f.path.padEnd(32)} ${String(f.size).padStart(9)} B`)
const problems = []
if (JSON.stringify(listed) !== JSON.stringify(inTar)) problems.push(`npm's file list and the tarball differ: ${listed} vs ${inTar}`)
const allowed = /^(dist\/[^/]+\.(js|mjs|d\.ts|d\.mts)|index\.d\.ts|data\/[^/]+|README\.md|package\.json)$/
for (const f of inTar) if (!allowed.test(f) || f.endsWith('.node')) problems.push(`unexpected file in the tarball: ${f}`)
for (const f of ['dist/index.js', 'dist/index.mjs', 'dist/index.d.ts', 'dist/index.d.mts', 'dist/cli.js', 'index.d.ts', 'data/meditations-5-20.txt', 'README.md', 'package.json']) {
  if (!inTar.includes(f)) problems.push(`missing from the tarball: ${f}`)
}
if (problems.length) {
  console.error(problems.join('\n'))
  process.exit(1)
}
console.log('  contents OK: only dist/, index.d.ts, data/, README.md, package.json (no tests, crates, target or .node)')
EOF
}
check_tarball "$REPO_TGZ" "$WORK/repo-pack.json" || fail "the main tarball's contents"

# The published package.json gets optionalDependencies at release time (scripts/optional-deps.mjs): pack a copy of
# the same files with them, the way the release does.
tar xzf "$REPO_TGZ" -C "$WORK/stage"
mv "$WORK/stage/package" "$WORK/stage/main"
node scripts/optional-deps.mjs "$WORK/stage/main/package.json"
timed "npm pack (main package, with optionalDeps)" \
  bash -c 'cd "$1" && npm pack --ignore-scripts --json --pack-destination "$2" >"$3" 2>"$3.log"' _ "$WORK/stage/main" "$WORK/tarballs" "$WORK/release-pack.json" || fail "npm pack of the release copy"
MAIN_TGZ="$WORK/tarballs/lstm-native-$VERSION.tgz"
check_tarball "$MAIN_TGZ" "$WORK/release-pack.json" || fail "the release tarball's contents"

# The platform package: npm/linux-x64-gnu with the built binary, packed by `npm run pack:local` (the documented way
# to use a local build from another project), which also packs the main package as the repository has it.
timed "npm run pack:local" node scripts/pack-local.mjs --out "$WORK/local-pack" >"$WORK/local-pack.log" 2>&1 || { cat "$WORK/local-pack.log" >&2; fail "npm run pack:local"; }
cat "$WORK/local-pack.log"
PLATFORM_TGZ="$WORK/local-pack/lstm-native-$TUPLE-$VERSION.tgz"
[ -f "$WORK/local-pack/lstm-native-$VERSION.tgz" ] || fail "pack:local wrote no main tarball"
node - "$PLATFORM_TGZ" "$BINARY" <<'EOF' || fail "the platform tarball's contents"
const { statSync } = require('node:fs')
const { execFileSync } = require('node:child_process')
const [tgz, binary] = process.argv.slice(2)
const files = execFileSync('tar', ['tzf', tgz], { encoding: 'utf8' }).split('\n').filter((l) => l && !l.endsWith('/')).map((l) => l.replace(/^package\//, '')).sort()
console.log(`${tgz}: ${statSync(tgz).size} bytes packed, files: ${files.join(', ')}`)
if (JSON.stringify(files) !== JSON.stringify(['README.md', binary, 'package.json'].sort())) {
  console.error(`expected README.md, ${binary} and package.json`)
  process.exit(1)
}
EOF

echo "== b. install into a fresh project: no Rust on PATH, npm --offline"
# A PATH without ~/.cargo/bin and without any folder holding rustc, cargo or rustup.
CLEAN_PATH=
IFS=: read -r -a PATH_DIRS <<<"$PATH"
for d in "${PATH_DIRS[@]}"; do
  [ -n "$d" ] || continue
  case "$d" in "$HOME/.cargo/bin" | */.cargo/bin | */.rustup/*) continue ;; esac
  if [ -e "$d/rustc" ] || [ -e "$d/cargo" ] || [ -e "$d/rustup" ]; then continue; fi
  case ":$CLEAN_PATH:" in *":$d:"*) continue ;; esac
  CLEAN_PATH=${CLEAN_PATH:+$CLEAN_PATH:}$d
done
# Run with only HOME, PATH, TMPDIR and npm's cache and registry set: no CARGO_HOME, RUSTUP_HOME,
# NAPI_RS_NATIVE_LIBRARY_PATH, or other npm_config_* (the cache and registry are passed on because they may come
# from the environment, and the offline install must look where `npm cache add` below put things).
NPM_CACHE=$(npm config get cache)
NPM_REGISTRY=$(npm config get registry)
clean() { env -i HOME="$HOME" PATH="$CLEAN_PATH" TMPDIR="${TMPDIR:-/tmp}" LANG=C.UTF-8 npm_config_cache="$NPM_CACHE" npm_config_registry="$NPM_REGISTRY" "$@"; }
echo "PATH for the install: $CLEAN_PATH"
if clean bash -c 'command -v cargo || command -v rustc || command -v rustup' >/dev/null; then fail "cargo/rustc is still on the cleaned PATH"; fi
clean bash -c 'command -v node && command -v npm' >/dev/null || fail "node or npm is not on the cleaned PATH"
echo "cargo, rustc, rustup: not found on that PATH"

# The app's dependencies, at the versions the repository locks (package-lock.json), must be in the npm cache for
# --offline. `npm ci` cached their tarballs; `npm cache add` makes sure their metadata is there too (it only uses the
# network for what the cache lacks). The same versions are pinned with `overrides` in the app, so the offline
# install does not depend on how recent the cached metadata is.
DEPS_JSON=$(node - <<'EOF'
const lock = require('./package-lock.json')
const pkg = require('./package.json')
const at = (name) => lock.packages[`node_modules/${name}`]
const pins = {}
const visit = (name) => {
  if (pins[name]) return
  const entry = at(name)
  if (!entry) throw new Error(`${name} is not in package-lock.json`)
  pins[name] = entry.version
  for (const dep of Object.keys(entry.dependencies ?? {})) visit(dep)
}
for (const name of [...Object.keys(pkg.dependencies ?? {}), 'typescript', '@types/node']) visit(name)
console.log(JSON.stringify(pins))
EOF
)
CACHE_SPECS=$(node -e 'for (const [n, v] of Object.entries(JSON.parse(process.argv[1]))) console.log(`${n}@${v}`)' "$DEPS_JSON")
echo "pinned from package-lock.json: $(echo $CACHE_SPECS)"
# shellcheck disable=SC2086
timed "npm cache add (lockfile versions)" npm cache add --prefer-offline --no-audit --no-fund $CACHE_SPECS >/dev/null

APP="$WORK/app"
mkdir -p "$APP"
cp test/fixtures/install-app/main.ts test/fixtures/install-app/tsconfig.json "$APP/"
node - "$APP/package.json" "$DEPS_JSON" <<'EOF'
const { writeFileSync } = require('node:fs')
const [file, deps] = process.argv.slice(2)
const pins = JSON.parse(deps)
const app = { name: 'install-app', version: '1.0.0', private: true, type: 'module', overrides: pins }
writeFileSync(file, `${JSON.stringify(app, null, 2)}\n`)
EOF
app_install() { # app_install <tarballs...>
  (cd "$APP" && clean npm install --offline --no-audit --no-fund --save-exact --loglevel=warn \
    "$@" "typescript@$(node -p "JSON.parse(process.argv[1]).typescript" "$DEPS_JSON")" "@types/node@$(node -p "JSON.parse(process.argv[1])['@types/node']" "$DEPS_JSON")")
}
OPTIONAL_DEPS=yes
T=$(date +%s%N)
if ! app_install "$MAIN_TGZ" "$PLATFORM_TGZ" >"$WORK/install.log" 2>&1; then
  cat "$WORK/install.log"
  echo "install-test: FALLBACK: npm refused the package with its optionalDependencies offline (the other platforms'"
  echo "install-test: FALLBACK: packages are not published, and not in the cache); installing the repository's tarball,"
  echo "install-test: FALLBACK: which has no optionalDependencies, with the platform tarball instead."
  OPTIONAL_DEPS=no
  rm -rf "$APP/node_modules" "$APP/package-lock.json"
  app_install "$REPO_TGZ" "$PLATFORM_TGZ" >"$WORK/install.log" 2>&1 || { cat "$WORK/install.log"; fail "npm install --offline"; }
fi
TIMINGS+=("$(printf '%-44s %7d ms' "npm install --offline" "$(ms_since "$T")")")
cat "$WORK/install.log"
node - "$APP" "$TUPLE" "$OPTIONAL_DEPS" <<'EOF' || fail "the installed tree"
const { existsSync, readdirSync } = require('node:fs')
const { join } = require('node:path')
const [app, tuple, optional] = process.argv.slice(2)
const nm = join(app, 'node_modules')
const pkg = require(join(nm, 'lstm-native', 'package.json'))
const opt = Object.keys(pkg.optionalDependencies ?? {})
const problems = []
if (optional === 'yes') {
  if (opt.length !== 6) problems.push(`the installed lstm-native lists ${opt.length} optionalDependencies, expected 6`)
  console.log(`installed lstm-native lists optionalDependencies: ${opt.join(', ')}`)
  for (const name of opt) {
    const present = existsSync(join(nm, name))
    console.log(`  ${name.padEnd(30)} ${present ? 'installed (from the local tarball)' : 'skipped: unpublished, not in the cache; npm went on'}`)
    if (present !== name.endsWith(tuple)) problems.push(`${name} is ${present ? '' : 'not '}installed`)
  }
} else {
  console.log('installed lstm-native has no optionalDependencies (fallback)')
}
if (!existsSync(join(nm, `lstm-native-${tuple}`, `lstm-native.${tuple}.node`))) problems.push(`no binary in node_modules/lstm-native-${tuple}`)
const nodeFiles = readdirSync(join(nm, 'lstm-native'), { recursive: true }).filter((f) => String(f).endsWith('.node'))
if (nodeFiles.length) problems.push(`lstm-native itself holds a binary: ${nodeFiles}`)
if (existsSync(join(nm, 'lstm-native', 'target')) || existsSync(join(nm, 'lstm-native', 'crates'))) problems.push('lstm-native was built from source')
if (problems.length) {
  console.error(problems.join('\n'))
  process.exit(1)
}
console.log(`node_modules: ${readdirSync(nm).filter((f) => !f.startsWith('.')).join(', ')}`)
EOF

echo "== c. type-check (tsc --noEmit, strict, declaration files included) and run the app"
TSC="node_modules/typescript/bin/tsc"
timed "tsc --noEmit (strict)" clean bash -c 'cd "$1" && node "$2" --noEmit -p tsconfig.json' _ "$APP" "$TSC" || fail "tsc --noEmit found type errors"
# Checked just above: emit without checking again (--noCheck, TypeScript >= 5.5) to save a second full check.
timed "tsc --noCheck (compile to build/)" clean bash -c 'cd "$1" && node "$2" -p tsconfig.json --noCheck' _ "$APP" "$TSC" || fail "tsc could not compile the app"
timed "node build/main.js (train, save, load, predict)" \
  clean bash -c 'cd "$1" && timeout 300 node build/main.js' _ "$APP" || fail "the app failed"

# The other entry points of the installed package: CommonJS require, and the CLI through node_modules/.bin.
clean bash -c 'cd "$1" && node -e "const m = require(\"lstm-native\"); if (typeof m.Sequential !== \"function\") process.exit(1); console.log(\"CommonJS require: OK\")"' _ "$APP" || fail "require('lstm-native')"
clean bash -c 'cd "$1" && node_modules/.bin/lstm-native --help >/dev/null' _ "$APP" || fail "the lstm-native CLI"
echo "CLI (node_modules/.bin/lstm-native --help): OK"
# The binary really comes from the platform package: without it, loading fails with NATIVE_BINDING_NOT_FOUND.
mv "$APP/node_modules/lstm-native-$TUPLE" "$WORK/platform-moved-away"
MISSING=$(clean bash -c 'cd "$1" && node -e "const { Sequential, layers } = require(\"lstm-native\"); try { new Sequential([layers.dense({ units: 1 })]); console.log(\"loaded anyway\") } catch (e) { console.log(e.code) }"' _ "$APP")
mv "$WORK/platform-moved-away" "$APP/node_modules/lstm-native-$TUPLE"
[ "$MISSING" = NATIVE_BINDING_NOT_FOUND ] || fail "without lstm-native-$TUPLE the addon still loaded ($MISSING)"
echo "without node_modules/lstm-native-$TUPLE: NATIVE_BINDING_NOT_FOUND, as expected"
# What `npm pack` alone makes in a checkout (the JavaScript without the binary), installed by itself: the error says
# to use `npm run pack:local`, not to reinstall optional dependencies that such a tarball does not list.
PACKED_APP="$WORK/app-npm-pack-only"
mkdir -p "$PACKED_APP"
# The app's package.json without its dependencies (which name the platform tarball): only the main tarball goes in.
node -e 'const fs = require("node:fs"); const app = JSON.parse(fs.readFileSync(process.argv[1], "utf8")); delete app.dependencies; fs.writeFileSync(process.argv[2], JSON.stringify(app, null, 2))' "$APP/package.json" "$PACKED_APP/package.json"
(cd "$PACKED_APP" && clean npm install --offline --no-audit --no-fund --loglevel=error "$REPO_TGZ") >"$WORK/install-pack-only.log" 2>&1 || { cat "$WORK/install-pack-only.log"; fail "npm install of the npm pack tarball alone"; }
PACK_ONLY=$(clean bash -c 'cd "$1" && node -e "const { Sequential, layers } = require(\"lstm-native\"); try { new Sequential([layers.dense({ units: 1 })]); console.log(\"loaded anyway\") } catch (e) { console.log(e.code, e.message.includes(\"npm run pack:local\") ? \"names pack:local\" : \"does not name pack:local\") }"' _ "$PACKED_APP")
[ "$PACK_ONLY" = "NATIVE_BINDING_NOT_FOUND names pack:local" ] || fail "the npm pack tarball alone: $PACK_ONLY"
echo "the npm pack tarball alone: NATIVE_BINDING_NOT_FOUND, and the message names npm run pack:local"

echo "== d. the documentation's examples: examples/*.mts type-checked and compiled as the README says, then run"
# Each TypeScript block of README.md and docs/ is one of these files verbatim (scripts/docs-check.mjs checks that).
# They run in a folder of the same fresh project, which is their working folder: the IMDB examples read
# 'aclImdb_v1.tar.gz' from there, so it holds an archive in the official layout (aclImdb/{train,test}/{pos,neg}):
# the package's own 2,000-review sample, copied under the official name, which keeps the runs short without changing
# a line of the examples. Only the number of steps or epochs the next-word examples take from their command line is
# lowered here.
EX="$APP/examples"
mkdir -p "$EX"
cp examples/*.mts "$EX/"
cp "$APP/node_modules/lstm-native/data/imdb-sample.tar.gz" "$EX/aclImdb_v1.tar.gz"
# examples/keras.mts opens the model the Keras guide saves: the Keras-trained fixture, under that name.
cp test/fixtures/keras/imdb_lstm.keras "$EX/imdb_lstm.keras"
cp "$APP/node_modules/lstm-native/data/mauna-loa-co2-weekly.csv" "$EX/"
# (grep -c reads the whole listing: with -q, tar would be cut off early and pipefail would see it fail)
for d in train/pos train/neg test/pos test/neg; do
  [ "$(tar tzf "$EX/aclImdb_v1.tar.gz" | grep -c "^aclImdb/$d/[^/]*\.txt$")" -gt 0 ] || fail "the sample archive has no aclImdb/$d/*.txt"
done
cat >"$EX/tsconfig.json" <<'JSON'
{
  "compilerOptions": {
    "target": "ES2022",
    "module": "NodeNext",
    "moduleResolution": "NodeNext",
    "strict": true,
    "skipLibCheck": false,
    "noEmit": true,
    "types": ["node"]
  },
  "include": ["*.mts"]
}
JSON
EXAMPLES=$(cd "$EX" && ls *.mts)
echo "examples: $(echo $EXAMPLES)"
timed "tsc --noEmit examples/*.mts (strict)" clean bash -c 'cd "$1" && node "$2" --noEmit -p tsconfig.json' _ "$EX" "../$TSC" || fail "tsc found type errors in examples/"
# The README's command: npx tsc --strict --module nodenext --target es2022 FILE.mts && node FILE.mjs
# shellcheck disable=SC2086
timed "npx tsc --strict ... examples/*.mts (README)" clean bash -c 'cd "$1" && shift && npx --no-install tsc --strict --module nodenext --target es2022 "$@"' _ "$EX" $EXAMPLES || fail "the README's tsc command failed on examples/"
example_args() { # the command-line arguments each example is run with here
  case "$1" in
    words.mts) echo 2000 ;;       # training steps (the README's default: 50,000)
    words-model.mts) echo 20 ;;   # epochs over the passage (default: 500, the article's 50,000 steps)
    *) echo ;;
  esac
}
for f in $EXAMPLES; do
  js=${f%.mts}.mjs
  [ -f "$EX/$js" ] || fail "tsc wrote no $js"
  # shellcheck disable=SC2046
  timed "node examples/$js $(example_args "$f")" \
    clean bash -c 'cd "$1" && shift && LSTM_NATIVE_CACHE="$PWD/.cache" timeout 300 node "$@" >"$PWD/${1%.mjs}.log" 2>&1' _ "$EX" "$js" $(example_args "$f") \
    || { cat "$EX/${js%.mjs}.log"; fail "examples/$f failed"; }
  echo "-- examples/$f: last lines of its output"
  tail -n 4 "$EX/${js%.mjs}.log" | sed 's/^/   /'
done
[ -s "$EX/imdb.safetensors" ] || fail "examples/imdb.mts wrote no imdb.safetensors"
[ -s "$EX/words.safetensors" ] || fail "examples/words.mts wrote no words.safetensors"
[ -s "$EX/from-node.keras" ] || fail "examples/keras.mts wrote no from-node.keras"
grep -q 'val_accuracy' "$EX/imdb.log" || fail "examples/imdb.mts printed no val_accuracy (the default progress output)"
echo "examples: all $(echo $EXAMPLES | wc -w) type-checked (strict), compiled with the README's command and run"

echo "== e. timings"
for line in "${TIMINGS[@]}"; do echo "  $line"; done
printf '  %-44s %7d ms\n' "total" "$(ms_since "$T_START")"
[ "$OPTIONAL_DEPS" = yes ] || echo "install-test: NOTE: ran the FALLBACK install without optionalDependencies (see above)"
echo "== install test passed"
