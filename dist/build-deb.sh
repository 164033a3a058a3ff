#!/usr/bin/env bash
# build-deb.sh [OUTDIR] - builds the Debian package of ctlua into OUTDIR
# (default out/) and prints its path: the binary (static, without cgo, so that
# `[daemon] user` can drop privileges on every thread; -X main.version and
# main.commit set what `ctlua version` prints), the systemd unit, the
# default configuration /etc/ctlua/ctlua.toml, the shipped helpers' sources,
# the docs, and postinst/prerm/postrm (the system user ctlua). nfpm is run
# at a pinned version with `go run`, so nothing but Go is needed.
#   dist/build-deb.sh                  version 0.0.0~gitDATE.COMMIT
#   CTLUA_VERSION=1.2.3 dist/build-deb.sh
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH=/usr/local/go/bin:$PATH GOFLAGS=-buildvcs=false
NFPM=github.com/goreleaser/nfpm/v2/cmd/nfpm@v2.45.2
OUT=$(mkdir -p "${1:-out}" && cd "${1:-out}" && pwd)
commit=$(git rev-parse --short=12 HEAD 2>/dev/null || echo unknown)
git diff --quiet HEAD 2>/dev/null || commit+=-dirty
day=$(git log -1 --format=%cd --date=format:%Y%m%d 2>/dev/null || date -u +%Y%m%d)
export CTLUA_VERSION=${CTLUA_VERSION:-0.0.0~git$day.${commit%-dirty}}
export GOARCH=${GOARCH:-$(go env GOARCH)}
[[ $CTLUA_VERSION =~ ^[0-9][A-Za-z0-9.+~-]*$ ]] || { echo "build-deb.sh: CTLUA_VERSION must start with a digit (Debian): '$CTLUA_VERSION'" >&2; exit 2; }

S=$(mktemp -d /tmp/ctlua-deb.XXXXXX)
trap 'rm -rf "$S"' EXIT
CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X main.version=$CTLUA_VERSION -X main.commit=$commit" -o "$S/ctlua" ./cmd/ctlua
cp dist/nfpm.yaml dist/ctlua.service dist/ctlua.toml dist/modules-load.conf dist/postinst dist/prerm dist/postrm dist/lintian-overrides "$S/"
for d in scripts/*/; do
  [[ -f $d/helper.lua ]] || continue
  mkdir -p "$S/helpers/$(basename "$d")"
  cp "$d/helper.lua" "$d/README.md" "$S/helpers/$(basename "$d")/"
done
mkdir -p "$S/doc"
cp README.md docs/*.md dist/copyright "$S/doc/"
{
  printf 'ctlua (%s) unstable; urgency=medium\n\n  * Built from commit %s.\n\n' "$CTLUA_VERSION" "$commit"
  printf ' -- ctlua developers <ctlua@example.org>  %s\n' "$(date -u -R -d "@$(git log -1 --format=%ct 2>/dev/null || date +%s)")"
} | gzip -9n >"$S/doc/changelog.gz"
(cd "$S" && go run "$NFPM" package --config nfpm.yaml --packager deb --target "$OUT/") >&2
deb=$OUT/ctlua_${CTLUA_VERSION}_$GOARCH.deb
[[ -f $deb ]] || { echo "build-deb.sh: nfpm did not write $deb:" >&2; ls -l "$OUT" >&2; exit 1; }
echo "$deb"
