#!/usr/bin/env bash
# Writes docs/operations.md from the registry (`squeeze help --reference`): the operation table and
# every operation's formula, paper, defaults and example. DocumentationTests fails when it is stale.
#   Scripts/generate/docs.sh   (after swift build)
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
"$root/.build/debug/squeeze" help --reference >"$root/docs/operations.md"
echo "wrote docs/operations.md"
