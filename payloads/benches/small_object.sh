#!/bin/bash
# CPU time of create-diff-object on a small object pair (common/version.o
# of lp-extraversion), against /bin/true and the libelf floor
# (libelf_floor.c: what a libelf-based tool does before it compares
# anything). perf stat task-clock, ROUNDS interleaved rounds of 200 runs;
# prints min / median / max of each. Needs `make build`, perf, gcc and
# libelf.so.1.
#
#   payloads/benches/small_object.sh [ROUNDS]
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
rounds=${1:-8}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"$root/target/release/livepatch-build" -q -s "$root/mini-xen" \
	-p "$root/payloads/patches/lp-extraversion.patch" -o "$work/lp" >/dev/null
gcc -O2 -o "$work/floor" "$root/payloads/benches/libelf_floor.c" \
	"$(ldconfig -p | awk '/libelf.so.1 /{print $NF; exit}')"
b="$work/lp/.build"
in="$b/orig/common/version.o $b/patched/common/version.o $root/mini-xen/build/mini-xen"
labels=(create-diff-object libelf-floor /bin/true)
cmds=("$root/target/release/create-diff-object $in $work/out.o" "$work/floor $in" /bin/true)
declare -a res
for _ in $(seq "$rounds"); do
	for i in "${!cmds[@]}"; do
		# shellcheck disable=SC2086
		v=$(perf stat -r 200 ${cmds[$i]} 2>&1 >/dev/null | awk '/task-clock/{print $1}')
		res[i]="${res[i]:-} $v"
	done
done
for i in "${!labels[@]}"; do
	echo "${labels[$i]}: $(echo ${res[i]} | tr ' ' '\n' | sort -n |
		awk '{a[NR]=$1} END{printf "min %s median %s max %s ms", a[1], a[int((NR+1)/2)], a[NR]}')"
done
