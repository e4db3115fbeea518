#!/usr/bin/env bash
# Copies a commit (default HEAD) of this repo to a folder, with the work
# tree's benches/, bench scripts and the Cargo.toml [[bench]]/criterion lines
# laid over it: benchmark a fixed commit while the work tree keeps moving.
#   scripts/bench-snapshot.sh DEST [COMMIT]
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
dest="${1:?usage: scripts/bench-snapshot.sh DEST [COMMIT]}"
commit="${2:-HEAD}"
rm -rf "$dest"
mkdir -p "$dest"
git -C "$repo" archive "$commit" | tar -x -C "$dest"
rm -rf "$dest/benches"
cp -r "$repo/benches" "$dest/benches"
cp "$repo"/scripts/bench* "$dest/scripts/"
python3 - "$repo/Cargo.toml" "$dest/Cargo.toml" <<'PY'
import re, sys
work, snap = (open(p).read() for p in sys.argv[1:3])
crit = re.search(r'^criterion = .*\n', work, re.M)
if crit and 'criterion' not in snap:
    snap = snap.replace('[dev-dependencies]\n', '[dev-dependencies]\n' + crit.group(0), 1)
benches = re.findall(r'(?:#[^\n]*\n)*\[\[bench\]\]\n(?:[^\[\n][^\n]*\n)*', work)
if benches and '[[bench]]' not in snap:
    snap = snap.replace('[profile.release]', '\n'.join(b.strip() + '\n' for b in benches) + '\n[profile.release]', 1)
open(sys.argv[2], 'w').write(snap)
PY
echo "$(git -C "$repo" rev-parse --short "$commit")" > "$dest/.bench-commit"
