#!/bin/sh
# SPDX-License-Identifier: ISC
# Every source file names its licence (LICENSE, doc/DEPENDENCIES.md) in an
# SPDX line within its first three lines.
#   sh tools/spdx.sh check   list the files without one; exit 1 if any
#   sh tools/spdx.sh add     add the line, in the file's comment syntax
# Source files: code, build files, SQL, configuration, units and manual
# pages that git tracks.  Not: tests/data (agent files and fixtures, some
# of them other projects' output), prose (*.md, README), debian/'s
# metadata (copyright holds the licence itself) and LICENSE.
set -eu
cd "$(dirname "$0")/.."
TAG='SPDX-License-Identifier: ISC'

files() {
	if [ -d .git ] || [ -f .git ]; then
		git ls-files
	else
		find . -type f ! -path './.git/*' ! -path './bin/*' \
		    ! -path './build/*' | sed 's#^\./##'
	fi | grep -v -E '^(tests/data/|LICENSE$|debian/(copyright|changelog|control|source/|.*\.docs$))|(\.md|README|\.gitignore)$'
}

# style FILE: how a comment line looks in it.
style() {
	case $1 in
	*.c|*.h) echo c ;;
	*.sql|*.sql.in) echo sql ;;
	*.[1-8]) echo man ;;
	*.xsd|*.xml) echo xml ;;
	*) echo hash ;;
	esac
}

has_tag() {
	head -n 3 "$1" | grep -q "$TAG"
}

add() {
	f=$1
	tmp=$f.spdx.$$
	case $(style "$f") in
	c) { echo "/* $TAG */"; cat "$f"; } > "$tmp" ;;
	sql) { echo "-- $TAG"; cat "$f"; } > "$tmp" ;;
	man) { echo ".\\\" $TAG"; cat "$f"; } > "$tmp" ;;
	xml) { head -n 1 "$f"; echo "<!-- $TAG -->"; tail -n +2 "$f"; } > "$tmp" ;;
	hash)
		if head -n 1 "$f" | grep -q '^#!'; then
			{ head -n 1 "$f"; echo "# $TAG"; tail -n +2 "$f"; } > "$tmp"
		else
			{ echo "# $TAG"; cat "$f"; } > "$tmp"
		fi ;;
	esac
	chmod --reference="$f" "$tmp"
	mv "$tmp" "$f"
}

missing=0
for f in $(files); do
	[ -f "$f" ] || continue
	has_tag "$f" && continue
	case ${1:-check} in
	add) add "$f"; echo "spdx: added to $f" ;;
	*) echo "spdx: no '$TAG' in the first lines of $f"; missing=1 ;;
	esac
done
exit "$missing"
