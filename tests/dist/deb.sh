#!/usr/bin/env bash
# deb.sh - the Debian package, built and installed on a clean Debian 12
# root, on the host (no VM: nothing here needs the kernel's helper API).
#
#   1. dist/build-deb.sh builds it (nfpm at its pinned version).
#   2. lintian finds no error (warnings are printed, see
#      docs/operations-deploy.md for the ones we keep).
#   3. The unit: systemd-analyze verify passes and prints nothing (it exits
#      0 on unknown keys and bad values, so any output fails), on the
#      packaged unit with ExecStart pointing at the packaged binary (the
#      host has no /usr/bin/ctlua); systemd-analyze security rates it below
#      3.0 ("OK").
#   4. A clean root: a Debian 12 minbase tree made by mmdebstrap from the
#      machine's apt sources (Priority: required packages only, no ctlua,
#      no systemd), cached as a tar in CTLUA_DEB_CACHE
#      (/var/cache/ctlua-deb; CTLUA_DEB_REFRESH=1 makes it anew) and
#      unpacked afresh for each run. In a chroot there: dpkg -i (files,
#      the system user ctlua, `ctlua version` with the version and commit
#      the build set, `ctlua check` of a shipped helper, `ctlua rules` of
#      the default configuration), dpkg -i again as an upgrade (an edited
#      conffile is kept, the user is not made twice), dpkg -r (the
#      conffile stays), dpkg --purge (it goes; the user stays, as Debian
#      does).
#
#   sudo tests/dist/deb.sh
# Exit 0: passed. Output ends with "N passed, M failed".
set -uo pipefail
cd "$(dirname "$0")/../.." || exit 1
pass=0 fail=0
ok()  { echo "PASS: $*"; pass=$((pass+1)); }
bad() { echo "FAIL: $*"; fail=$((fail+1)); }
finish() { echo "$pass passed, $fail failed"; exit $(( fail > 0 )); }
die() { bad "$*"; finish; }
[[ $(id -u) == 0 ]] || die "needs root (chroot, dpkg); run: sudo tests/dist/deb.sh"
for t in dpkg-deb lintian systemd-analyze mmdebstrap chroot tar; do
  command -v "$t" >/dev/null || die "missing tool $t (tests/deps.sh installs it)"
done
W=$(mktemp -d /tmp/ctlua-deb-test.XXXXXX)
trap 'rm -rf "$W"' EXIT

# --- 1. build -----------------------------------------------------------------------
t0=$SECONDS
deb=$(dist/build-deb.sh "$W/out" 2>"$W/build.log") && [[ -f $deb ]] \
  && ok "dist/build-deb.sh built $(basename "$deb") ($(du -k "$deb" | cut -f1) KiB, $((SECONDS - t0)) s)" \
  || { cat "$W/build.log"; die "the package did not build"; }
version=$(dpkg-deb -f "$deb" Version)
commit=$(git rev-parse --short=12 HEAD 2>/dev/null || echo unknown)
git diff --quiet HEAD 2>/dev/null || commit+=-dirty   # as dist/build-deb.sh names it

# --- 2. lintian ----------------------------------------------------------------------
lintian --fail-on error --tag-display-limit 0 "$deb" >"$W/lintian.txt" 2>&1; rc=$?
(( rc == 0 )) && ok "lintian: no error ($(grep -c '^W:' "$W/lintian.txt") warnings)" || bad "lintian: exit $rc"
grep -E '^[EW]:' "$W/lintian.txt"

# --- 3. the unit -----------------------------------------------------------------------
mkdir -p "$W/x" "$W/unit"
dpkg-deb -x "$deb" "$W/x"
sed "s|^ExecStart=/usr/bin/ctlua |ExecStart=$W/x/usr/bin/ctlua |" "$W/x/usr/lib/systemd/system/ctlua.service" >"$W/unit/ctlua.service"
grep -q "^ExecStart=$W/x/usr/bin/ctlua run --config /etc/ctlua/ctlua.toml$" "$W/unit/ctlua.service" || bad "the unit's ExecStart is not /usr/bin/ctlua run --config /etc/ctlua/ctlua.toml"
systemd-analyze verify --man=no "$W/unit/ctlua.service" >"$W/verify.txt" 2>&1; rc=$?
if (( rc == 0 )) && [[ ! -s $W/verify.txt ]]; then ok "systemd-analyze verify: the unit passes, no warning"
else bad "systemd-analyze verify: exit $rc"; cat "$W/verify.txt"; fi
for key in Type=notify "ExecReload=/bin/kill -HUP \$MAINPID" WatchdogSec=30s User=ctlua AmbientCapabilities=CAP_NET_ADMIN \
           CapabilityBoundingSet=CAP_NET_ADMIN NoNewPrivileges=yes ProtectSystem=strict \
           "RestrictAddressFamilies=AF_NETLINK AF_UNIX AF_INET AF_INET6"; do
  grep -qxF "$key" "$W/unit/ctlua.service" || bad "the unit lacks $key"
done
exposure=$(systemd-analyze security --offline=yes "$W/unit/ctlua.service" 2>/dev/null | sed -n 's/.*Overall exposure level for ctlua.service: \([0-9.]*\).*/\1/p')
if [[ -n $exposure ]] && awk -v e="$exposure" 'BEGIN { exit !(e < 3.0) }'; then ok "systemd-analyze security: exposure $exposure (below 3.0)"
else bad "systemd-analyze security: exposure '${exposure:-?}', want below 3.0"; fi

# --- 4. a clean Debian 12 root ---------------------------------------------------------------
CACHE=${CTLUA_DEB_CACHE:-/var/cache/ctlua-deb}
TAR=$CACHE/bookworm-minbase.tar
if [[ ! -s $TAR || ${CTLUA_DEB_REFRESH:-0} == 1 ]]; then
  mkdir -p "$CACHE"; t0=$SECONDS
  # --format: mmdebstrap otherwise guesses from the name, and the partial
  # name has no .tar ending.
  mmdebstrap --variant=minbase --format=tar --quiet bookworm "$TAR.partial" >"$W/mmdebstrap.log" 2>&1 && mv "$TAR.partial" "$TAR" \
    || { cat "$W/mmdebstrap.log"; rm -rf "$TAR.partial"; die "mmdebstrap could not make a Debian 12 root"; }
  echo "--- made $TAR in $((SECONDS - t0)) s"
fi
R=$W/root
mkdir -p "$R" && tar -xf "$TAR" -C "$R" || die "cannot unpack $TAR"
grep -q '^VERSION_ID="12"' "$R/etc/os-release" && ! chroot "$R" dpkg -s ctlua >/dev/null 2>&1 && [[ ! -e $R/usr/bin/systemctl ]] \
  && ok "clean root: Debian 12 minbase, $(chroot "$R" dpkg-query -W | wc -l) packages, no ctlua, no systemd" || bad "the root is not a clean Debian 12"
cp "$deb" "$R/tmp/ctlua.deb"
in_root() { chroot "$R" env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8 "$@"; }

in_root dpkg -i /tmp/ctlua.deb >"$W/install.txt" 2>&1 && ok "dpkg -i installs $version" || { bad "dpkg -i failed"; cat "$W/install.txt"; }
missing=""
for f in /usr/bin/ctlua /usr/lib/systemd/system/ctlua.service /etc/ctlua/ctlua.toml /usr/lib/modules-load.d/ctlua.conf \
         /usr/share/ctlua/helpers/ftp/helper.lua /usr/share/ctlua/helpers/tftp/helper.lua /usr/share/doc/ctlua/operations-deploy.md \
         /usr/share/doc/ctlua/copyright /usr/share/doc/ctlua/changelog.gz; do
  [[ -e $R$f ]] || missing+=" $f"
done
[[ -z $missing ]] && ok "installed: binary, unit, /etc/ctlua/ctlua.toml, modules-load.d, helpers, docs" || bad "not installed:$missing"
in_root dpkg-query -W -f='${Conffiles}\n' ctlua | grep -q '/etc/ctlua/ctlua.toml' && ok "/etc/ctlua/ctlua.toml is a conffile" || bad "/etc/ctlua/ctlua.toml is not a conffile"
IFS=: read -r _ _ uid gid _ home shell < <(in_root getent passwd ctlua)
if [[ -n ${uid:-} ]] && (( uid < 1000 )) && [[ $shell == /usr/sbin/nologin ]] && in_root getent group ctlua | grep -q ":$gid:"; then
  ok "postinst made the system user ctlua (uid $uid, group ctlua, home $home, shell $shell)"
else bad "no system user ctlua: $(in_root getent passwd ctlua)"; fi
v=$(in_root ctlua version)
[[ $v == "ctlua $version $commit "* ]] && ok "ctlua version: $v" || bad "ctlua version: '$v', want 'ctlua $version $commit ...'"
in_root ctlua check /usr/share/ctlua/helpers/ftp/helper.lua >"$W/check.txt" 2>&1 && ok "ctlua check of the shipped FTP helper" || { bad "ctlua check failed"; cat "$W/check.txt"; }
in_root ctlua rules --config /etc/ctlua/ctlua.toml >"$W/rules.txt" 2>&1 \
  && grep -q 'tcp dport 21 ct helper set "ftp-ip"' "$W/rules.txt" && grep -q 'udp dport 69 ct helper set "tftp-ip6"' "$W/rules.txt" \
  && ok "the default configuration parses: FTP on 21, TFTP on 69" || { bad "ctlua rules of the default configuration"; cat "$W/rules.txt"; }

echo "# edited by the admin" >>"$R/etc/ctlua/ctlua.toml"
if in_root dpkg -i /tmp/ctlua.deb >"$W/upgrade.txt" 2>&1 && grep -q '^# edited by the admin$' "$R/etc/ctlua/ctlua.toml" \
   && (( $(grep -c '^ctlua:' "$R/etc/passwd") == 1 )); then
  ok "dpkg -i again (upgrade): the edited conffile is kept, one user ctlua"
else bad "upgrade"; cat "$W/upgrade.txt"; fi

in_root dpkg -r ctlua >"$W/remove.txt" 2>&1 && [[ ! -e $R/usr/bin/ctlua && ! -e $R/usr/lib/systemd/system/ctlua.service && -e $R/etc/ctlua/ctlua.toml ]] \
  && in_root dpkg -s ctlua 2>/dev/null | grep -q '^Status: deinstall ok config-files' \
  && ok "dpkg -r: binary and unit gone, the conffile stays" || { bad "dpkg -r"; cat "$W/remove.txt"; }
in_root dpkg --purge ctlua >"$W/purge.txt" 2>&1 && [[ ! -e $R/etc/ctlua ]] && ! in_root dpkg -s ctlua >/dev/null 2>&1 \
  && ok "dpkg --purge: /etc/ctlua gone, the package unknown" || { bad "dpkg --purge"; cat "$W/purge.txt"; ls -la "$R/etc/ctlua"; }
in_root getent passwd ctlua >/dev/null && ok "after purge the user ctlua stays (Debian's practice)" || bad "purge removed the user"
left=$(find "$R/usr" "$R/etc" -name '*ctlua*' 2>/dev/null | grep -v '^$' | head -5)
[[ -z $left ]] && ok "nothing named ctlua left under /usr and /etc" || bad "left behind: $left"
finish
