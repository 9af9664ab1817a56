#!/usr/bin/env bash
# Fetches lwIP 2.1.3 (the stack behind sfguest/net.h) from Debian's source archive into build/lwip-2.1.3
# (gitignored with build/, kept by make clean; never committed), checking the tarball against a pinned sha256.
# apt runs with a private deb-src list and private state/cache dirs: /etc/apt is never touched.
# Idempotent: nothing happens when the stamp exists. Usage: scripts/fetch-lwip.sh [DEST_DIR]
set -euo pipefail

here="$(cd "$(dirname "$0")/.." && pwd)"
dest="${1:-$here/build/lwip-2.1.3}"
stamp="$dest/.fetched"
tarball="lwip_2.1.3+dfsg1.orig.tar.xz"
sha256="0a8276d09fc4e97bbba2f953d74af2388fc2195ea156be9d7589e297a68fde24"
mirror="${SF_LWIP_MIRROR:-http://deb.debian.org/debian}"

[ -f "$stamp" ] && exit 0

work="$(mktemp -d "${TMPDIR:-/tmp}/sf-lwip.XXXXXX")"
trap 'rm -rf "$work"' EXIT

# A tarball placed in build/ (an offline machine) is used as it is.
if [ -f "$here/build/$tarball" ]; then
  cp "$here/build/$tarball" "$work/"
else
  # apt first (a private deb-src list: the Release signature vouches for the Sources index), then the
  # pool URL directly with python3 (the pinned sha256 below vouches for the tarball either way).
  fetched=0
  if command -v apt-get >/dev/null 2>&1; then
    mkdir -p "$work/lists/partial" "$work/cache/archives/partial"
    echo "deb-src $mirror bookworm main" >"$work/sources.list"
    apt_opts=(-o "Dir::Etc::SourceList=$work/sources.list" -o "Dir::Etc::SourceParts=/dev/null"
      -o "Dir::State::Lists=$work/lists" -o "Dir::Cache=$work/cache" -o "Debug::NoLocking=1"
      -o "APT::Sandbox::User=$(id -un)")
    echo "fetch-lwip: fetching lwIP 2.1.3 from $mirror (Debian bookworm sources)…" >&2
    if (cd "$work" && apt-get "${apt_opts[@]}" -qq update >"$work/log" 2>&1 &&
      apt-get "${apt_opts[@]}" -qq source --download-only lwip=2.1.3+dfsg1-2 >>"$work/log" 2>&1) &&
      [ -f "$work/$tarball" ]; then
      fetched=1
    fi
  fi
  if [ "$fetched" = 0 ] && command -v python3 >/dev/null 2>&1; then
    url="$mirror/pool/main/l/lwip/$tarball"
    echo "fetch-lwip: apt could not fetch it; trying $url" >&2
    if python3 -c 'import sys, urllib.request; urllib.request.urlretrieve(sys.argv[1], sys.argv[2])' \
      "$url" "$work/$tarball" >>"$work/log" 2>&1; then
      fetched=1
    fi
  fi
  if [ "$fetched" = 0 ]; then
    cat "$work/log" >&2 2>/dev/null || true
    echo "fetch-lwip: could not download lwIP from $mirror. Connect this machine to the network and run" >&2
    echo "  make -C native/guest" >&2
    echo "again, or copy $tarball (sha256 $sha256) into $here/build/ by hand." >&2
    exit 1
  fi
fi

echo "$sha256  $work/$tarball" | sha256sum -c --quiet - || {
  echo "fetch-lwip: $tarball does not have the pinned sha256 $sha256; refusing to build with it" >&2
  exit 1
}

# Only the sources the SDK compiles (src/) and the licence; unpacked beside, then moved in place at once.
rm -rf "$dest.tmp"
mkdir -p "$dest.tmp"
if command -v xz >/dev/null 2>&1; then
  tar -xJf "$work/$tarball" -C "$dest.tmp" --strip-components=1 lwip-2.1.3/src lwip-2.1.3/COPYING
else # no xz-utils: python3's tarfile reads xz itself
  python3 - "$work/$tarball" "$dest.tmp" <<'PY'
import sys, tarfile
with tarfile.open(sys.argv[1], "r:xz") as t:
    for m in t.getmembers():
        parts = m.name.split("/", 1)
        if len(parts) == 2 and (parts[1] == "COPYING" or parts[1].startswith("src/")) and (m.isfile() or m.isdir()):
            m.name = parts[1]
            t.extract(m, sys.argv[2])
PY
fi
rm -rf "$dest"
mv "$dest.tmp" "$dest"
echo "$sha256  $tarball" >"$stamp"
echo "fetch-lwip: lwIP 2.1.3 is in $dest" >&2
