# SPDX-License-Identifier: GPL-2.0
# Lay our patches and files over a pristine upstream tree, incrementally. Sourced.
#
# A tree directory $T keeps its bookkeeping in $T/.ims: the patches applied to it (copies)
# and the list of files we laid down. Both functions leave untouched every file whose
# content would not change, so make/ninja rebuild only what really changed.

# tree_patch TREE PATCHDIR REEXTRACT_FN
#	Bring TREE from the patch set it has to the one in PATCHDIR: reverse the applied
#	patches newest first, then apply the new ones in order. If reversing fails the tree
#	is not what we think it is, and REEXTRACT_FN starts again from the pristine source.
tree_patch() {
	local tree=$1 dir=$2 reextract=$3 old=() new=() i p

	mkdir -p "$tree/.ims/applied"
	mapfile -t new < <(find "$dir" -name '*.patch' 2>/dev/null | sort)
	mapfile -t old < <(find "$tree/.ims/applied" -name '*.patch' | sort)

	if [ "$(cat "${old[@]}" /dev/null | sha256sum)" = \
	     "$(cat "${new[@]}" /dev/null | sha256sum)" ]; then
		return 0
	fi

	for ((i = ${#old[@]} - 1; i >= 0; i--)); do
		if ! patch -d "$tree" -p1 -R -s --no-backup-if-mismatch < "${old[i]}"; then
			log "cannot reverse $(basename "${old[i]}"); starting from pristine source"
			"$reextract"
			mkdir -p "$tree/.ims/applied"
			break
		fi
	done
	rm -f "$tree"/.ims/applied/*.patch

	for p in "${new[@]}"; do
		log "applying $(basename "$p")"
		patch -d "$tree" -p1 -s -N --no-backup-if-mismatch < "$p" ||
			die "$(basename "$p") does not apply to $tree"
		cp "$p" "$tree/.ims/applied/"
	done
}

# tree_overlay TREE FROM DIR...
#	Copy the files under FROM/DIR... to the same paths in TREE. We only add files: one
#	that exists upstream must be changed with a patch, so that is an error. Files laid
#	down earlier and since removed from FROM are removed from TREE.
tree_overlay() {
	local tree=$1 from=$2 list new d f
	shift 2

	list=$tree/.ims/overlay.list
	mkdir -p "$tree/.ims"
	touch "$list"
	new=$(mktemp)
	for d in "$@"; do
		[ -d "$from/$d" ] || continue
		(cd "$from" && find "$d" -type f ! -name '.*')
	done | sort > "$new"

	while read -r f; do
		if ! grep -qxF "$f" "$list" && [ -e "$tree/$f" ]; then
			rm -f "$new"
			die "$f exists upstream: change it with a patch, not by overlaying a copy"
		fi
	done < "$new"

	comm -23 "$list" "$new" | while read -r f; do rm -f "$tree/$f"; done

	# -c: copy only when the content differs; no -t: a copied file gets a new mtime.
	rsync -rlc --files-from="$new" "$from/" "$tree/"
	mv "$new" "$list"
}
