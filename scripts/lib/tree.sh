# SPDX-License-Identifier: GPL-2.0
# Lay our patches and files over a pristine upstream tree, incrementally. Sourced.
#
# A tree directory $T keeps its bookkeeping in $T/.ims: the patches applied to it (copies)
# and the list of files we laid down. Both functions leave untouched every file whose
# content would not change, so make/ninja rebuild only what really changed.

# tree_patch TREE PATCHDIR REEXTRACT_FN
#	Bring TREE from the patch set it has to the one in PATCHDIR: keep the common head of
#	both sets, reverse the rest of the applied patches newest first, then apply the rest
#	of the new ones in order. If reversing fails the tree is not what we think it is,
#	and REEXTRACT_FN starts again from the pristine source.
# patch_diff PATCH: the diff part of PATCH, without its changelog.
patch_diff() {
	sed -n '/^--- a\//,$p' "$1"
}

# patch_files PATCH: the files PATCH changes.
patch_files() {
	sed -n 's|^+++ b/||p' "$1" | sort -u
}

# tree_patch_in_place TREE OLDVAR NEWVAR: see tree_patch; fails if it does not apply.
tree_patch_in_place() {
	local tree=$1 i
	local -n o=$2 n=$3

	[ ${#o[@]} = ${#n[@]} ] || return 1
	for ((i = 0; i < ${#o[@]}; i++)); do
		[ "$(basename "${o[i]}")" = "$(basename "${n[i]}")" ] || return 1
	done
	# Every file must belong to one patch only.
	[ -z "$(for i in "${n[@]}"; do patch_files "$i"; done | sort | uniq -d)" ] || return 1
	[ -z "$(for i in "${o[@]}"; do patch_files "$i"; done | sort | uniq -d)" ] || return 1

	for ((i = 0; i < ${#o[@]}; i++)); do
		cmp -s <(patch_diff "${o[i]}") <(patch_diff "${n[i]}") && continue
		log "re-applying $(basename "${n[i]}")"
		patch -d "$tree" -p1 -R -s --no-backup-if-mismatch < "${o[i]}" || return 1
		patch -d "$tree" -p1 -s -N --no-backup-if-mismatch < "${n[i]}" ||
			die "$(basename "${n[i]}") does not apply to $tree"
	done
	for ((i = 0; i < ${#o[@]}; i++)); do
		cmp -s "${o[i]}" "${n[i]}" || cp "${n[i]}" "${o[i]}"
	done
}

tree_patch() {
	local tree=$1 dir=$2 reextract=$3 old=() new=() i p keep=0

	mkdir -p "$tree/.ims/applied"
	mapfile -t new < <(find "$dir" -name '*.patch' 2>/dev/null | sort)
	mapfile -t old < <(find "$tree/.ims/applied" -name '*.patch' | sort)

	# Patches that are the same, in the same place, at the head of both sets stay
	# applied: adding or editing patch N touches only the files of patches N and later.
	# Only the diff counts: a patch whose changelog was reworded stays applied.
	while [ $keep -lt ${#old[@]} ] && [ $keep -lt ${#new[@]} ] &&
	      [ "$(basename "${old[keep]}")" = "$(basename "${new[keep]}")" ] &&
	      cmp -s <(patch_diff "${old[keep]}") <(patch_diff "${new[keep]}"); do
		cmp -s "${old[keep]}" "${new[keep]}" || cp "${new[keep]}" "${old[keep]}"
		keep=$((keep + 1))
	done
	[ $keep = ${#old[@]} ] && [ $keep = ${#new[@]} ] && return 0

	# The same patches by name, some edited, none sharing a file with another: redo
	# just the edited ones, in place.
	if tree_patch_in_place "$tree" old new; then
		return 0
	fi

	for ((i = ${#old[@]} - 1; i >= keep; i--)); do
		if ! patch -d "$tree" -p1 -R -s --no-backup-if-mismatch < "${old[i]}"; then
			log "cannot reverse $(basename "${old[i]}"); starting from pristine source"
			"$reextract"
			mkdir -p "$tree/.ims/applied"
			keep=0
			break
		fi
		rm -f "${old[i]}"
	done
	[ $keep = 0 ] && rm -f "$tree"/.ims/applied/*.patch

	for p in "${new[@]:keep}"; do
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
