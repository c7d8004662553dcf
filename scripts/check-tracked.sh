#!/usr/bin/env bash
# Fails when git tracks a build output: an executable binary (ELF) or any file larger than
# MAX_BYTES. Run by `make lint`. It checks what the index holds, so `git add` of a binary
# fails here before it is committed.
#
# A fixture that has to be large or binary is allowed by its path in ALLOWED below.
set -euo pipefail
# shellcheck source=scripts/lib.sh
. "$(dirname "$0")/lib.sh"
cd "$(repo_root)"

MAX_BYTES=$((1024 * 1024))
# Paths (relative to the repository root) exempt from both checks, one per entry.
ALLOWED=()

allowed() {
	local a
	for a in "${ALLOWED[@]}"; do [ "$a" = "$1" ] && return 0; done
	return 1
}

git_() { git -c safe.directory="$PWD" "$@"; }
bad=0
# "mode sha stage<TAB>path" for every tracked file; submodules (mode 160000) have no blob.
while IFS= read -r -d '' entry; do
	meta=${entry%%$'\t'*} path=${entry#*$'\t'}
	read -r mode sha _ <<<"$meta"
	[ "$mode" = 160000 ] && continue
	allowed "$path" && continue
	size=$(git_ cat-file -s "$sha")
	if [ "$size" -gt "$MAX_BYTES" ]; then
		echo "tracked file larger than $MAX_BYTES bytes: $path ($size bytes)" >&2
		bad=1
	fi
	if [ "$(git_ cat-file blob "$sha" | head -c 4 | od -An -tx1 | tr -d ' \n')" = 7f454c46 ]; then
		echo "tracked file is an ELF binary (a build output?): $path" >&2
		bad=1
	fi
done < <(git_ ls-files -s -z)
[ "$bad" -eq 0 ] || die "remove the files above from git (git rm --cached) and ignore them in .gitignore, or add a real fixture to ALLOWED in ${0#"$PWD/"}"
