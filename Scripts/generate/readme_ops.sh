#!/usr/bin/env bash
# Replaces the operation table in README.md ("## Operations") with `squeeze help --markdown`.
#   Scripts/generate/readme_ops.sh   (after swift build)
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
table="$("$root/.build/debug/squeeze" help --markdown)"
TABLE="$table" python3 - "$root/README.md" <<'PY'
import os, re, sys
path = sys.argv[1]
text = open(path).read()
start = text.index("## Operations")
table_start = text.index("| family | operation | summary |", start)
table_end = text.index("\n## ", table_start)
text = text[:table_start] + os.environ["TABLE"].rstrip("\n") + "\n" + text[table_end:]
open(path, "w").write(text)
PY
