# shellcheck shell=bash
# tests/vm/kernel.sh - the guest kernel: which one, fetched from Debian's
# archive, unpacked and normalised into the cache. Sourced by run.sh, which
# provides log, die, apt_update, apt_opts, tmpdirs, CACHE and holds the
# cache lock.
#
# CTLUA_VM_KERNEL chooses it:
#   bookworm          Debian 12's kernel (linux-image-amd64 from the
#                     machine's own apt sources; the default)
#   trixie            Debian 13's (linux-image-amd64 from trixie,
#                     trixie-updates and trixie-security)
#   trixie-backports  the newest backports kernel for Debian 13
#   linux-image-...   a concrete package, looked up in the machine's sources,
#                     then trixie's, then trixie-backports'
#
# Debian 13 is not in the machine's apt sources: its suites get a private
# apt configuration (APT_CONFIG) under CACHE/apt/SUITE, whose sources use
# the machine's own Debian mirror with the other suite names; the system's
# sources and lists are left alone.
#
# The packages differ by release, and each is normalised to one layout in
# CACHE/kernels/<package>_<version>/ (kdir):
#   - Debian 12: /boot/vmlinuz-KV, /boot/config-KV, /lib/modules/KV, .ko.
#   - Debian 13: usr-merged (/usr/lib/modules/KV), modules .ko.xz.
#   - 7.x: linux-image-KV is empty and depends on linux-binary-KV (the
#     image and config at /usr/lib/modules/KV/vmlinuz and config),
#     linux-modules-KV and linux-base-KV (modules.builtin, modules.order);
#     every dependency named *-KV is fetched and unpacked into one root.
# kdir holds root/ (root/lib/modules/KV always resolves), bzImage, config,
# release, package, and .ready when complete.
#
# Outputs (globals): kdir, KV, kmoddir (the modules, a real path), kernel
# (the image qemu boots) and kernel_desc (release and package, for logs).

readonly KERNEL_SUITES="bookworm trixie trixie-backports"

# kernel_apt SUITE: prints the APT_CONFIG for SUITE ("" for the machine's
# own sources), creating it and its package lists when missing.
kernel_apt() {
  local suite=$1 dir mirror security list
  [[ $suite == bookworm ]] && return 0
  dir=$CACHE/apt/$suite
  if [[ ! -s $dir/apt.conf ]]; then
    mirror=$(apt_repo_uri bookworm)
    security=$(apt_repo_uri bookworm-security)
    [[ -n $mirror ]] || { apt_update; mirror=$(apt_repo_uri bookworm); security=$(apt_repo_uri bookworm-security); }
    [[ -n $mirror ]] || die "cannot find Debian's mirror in this machine's apt sources (no bookworm suite)"
    mkdir -p "$dir"/{lists/partial,cache/archives/partial,parts}
    list="[signed-by=/usr/share/keyrings/debian-archive-keyring.gpg]"
    case $suite in
      trixie)
        printf 'deb %s %s trixie main\ndeb %s %s trixie-updates main\n' "$list" "$mirror" "$list" "$mirror"
        [[ -n $security ]] && printf 'deb %s %s trixie-security main\n' "$list" "$security"
        ;;
      trixie-backports) printf 'deb %s %s trixie-backports main\n' "$list" "$mirror" ;;
      *) die "unknown suite $suite" ;;
    esac >"$dir/sources.list"
    printf 'Dir::Etc::sourcelist "%s";\nDir::Etc::sourceparts "%s";\nDir::State::lists "%s";\nDir::Cache "%s";\n' \
      "$dir/sources.list" "$dir/parts" "$dir/lists" "$dir/cache" >"$dir/apt.conf.tmp"
    mv "$dir/apt.conf.tmp" "$dir/apt.conf"
  fi
  if [[ ${CTLUA_VM_REFRESH:-0} == 1 || ! -e $dir/.updated ]]; then
    log "apt-get update ($suite, private lists in $dir)"
    APT_CONFIG=$dir/apt.conf apt-get "${apt_opts[@]}" update >/dev/null || die "apt-get update for $suite failed"
    touch "$dir/.updated"
  fi
  echo "$dir/apt.conf"
}

# apt_repo_uri SUITE: the machine's mirror for SUITE, from apt's own view of
# its sources (so no host name is written here).
apt_repo_uri() {
  apt-get indextargets --format '$(REPO_URI) $(RELEASE)' 2>/dev/null |
    awk -v s="$1" '$2 == s { print $1; exit }'
}

# kernel_resolve SEL: prints "APT_CONFIG PACKAGE VERSION" for a selection.
kernel_resolve() {
  local sel=$1 conf pkg ver suite suites=bookworm
  case $sel in
    bookworm | trixie | trixie-backports) suites=$sel ;;
    linux-image-[0-9]*) suites=$KERNEL_SUITES ;;
    *) die "CTLUA_VM_KERNEL must be one of: $KERNEL_SUITES, or a linux-image-X package; not '$sel'" ;;
  esac
  for suite in $suites; do
    conf=$(kernel_apt "$suite") || exit 125
    pkg=$sel
    [[ $sel == linux-image-[0-9]* ]] || pkg=$(APT_CONFIG=$conf apt-cache depends linux-image-amd64 2>/dev/null |
      awk '/Depends: linux-image-[0-9]/ { print $2; exit }')
    if [[ -z $pkg && $suite == bookworm ]]; then
      apt_update
      pkg=$(apt-cache depends linux-image-amd64 2>/dev/null | awk '/Depends: linux-image-[0-9]/ { print $2; exit }')
    fi
    [[ -n $pkg ]] || continue
    ver=$(APT_CONFIG=$conf apt-cache show --no-all-versions "$pkg" 2>/dev/null | awk '/^Version:/ { print $2; exit }')
    [[ -n $ver ]] && { echo "${conf:--} $pkg $ver"; return 0; }
  done
  die "no kernel package for CTLUA_VM_KERNEL=$sel in the apt lists ($suites)"
}

# kernel_packages CONF PKG: PKG and, recursively, its dependencies named
# after the same release (the 7.x split: linux-binary-KV, linux-modules-KV,
# linux-base-KV).
kernel_packages() {
  local conf=$1 pkg=$2 kv=${2#linux-image-} todo seen=" " p
  todo=("$pkg")
  while ((${#todo[@]})); do
    p=${todo[0]}
    todo=("${todo[@]:1}")
    [[ $seen == *" $p "* ]] && continue
    seen+="$p "
    echo "$p"
    while read -r dep; do todo+=("$dep"); done < <(APT_CONFIG=$conf apt-cache depends "$p" 2>/dev/null |
      awk -v suffix="-$kv" '$1 ~ /^\|?(Pre)?Depends:$/ && substr($2, length($2) - length(suffix) + 1) == suffix { print $2 }')
  done
}

# kernel_fetch CONF PKG VER: downloads and unpacks into a fresh kdir.
kernel_fetch() {
  local conf=$1 pkg=$2 ver=$3 tmp t0=$SECONDS p pkgs
  [[ $conf == - ]] && conf=
  log "fetching $pkg $ver"
  mkdir -p "$CACHE/kernels"
  tmp=$(mktemp -d "$CACHE/kernels/.fetch.XXXXXX")
  tmpdirs+=("$tmp")
  # apt-get download drops root for the _apt user: the directory must be
  # reachable and writable by _apt, or apt warns and downloads as root.
  chmod 0755 "$tmp"
  mkdir "$tmp/deb"
  chmod 0777 "$tmp/deb"
  mapfile -t pkgs < <(kernel_packages "$conf" "$pkg")
  for p in "${pkgs[@]}"; do
    if ! (cd "$tmp/deb" && APT_CONFIG=$conf apt-get -qq download "$p=$ver") >/dev/null 2>&1; then
      [[ -z $conf ]] && apt_update
      (cd "$tmp/deb" && APT_CONFIG=$conf apt-get -qq download "$p=$ver") >/dev/null ||
        die "apt-get download $p=$ver failed"
    fi
  done
  for p in "$tmp"/deb/*.deb; do dpkg -x "$p" "$tmp/root"; done
  rm -rf "$tmp/deb"
  kernel_normalise "$tmp" "$pkg ${pkgs[*]:1}"
  echo "$pkg $ver" >"$tmp/package"
  touch "$tmp/.ready"
  rm -rf "$kdir"
  mv "$tmp" "$kdir"
  log "kernel $(<"$kdir/release") ready in $((SECONDS - t0)) s (${#pkgs[@]} package(s): ${pkgs[*]})"
}

# kernel_normalise DIR WHAT: one layout whatever the release (see the top).
kernel_normalise() {
  local d=$1 what=$2 kv mods
  if [[ ! -d $d/root/lib/modules && -d $d/root/usr/lib/modules ]]; then
    mkdir -p "$d/root/lib"
    ln -s ../usr/lib/modules "$d/root/lib/modules"
  fi
  kv=$(ls "$d/root/lib/modules" 2>/dev/null || true)
  [[ -n $kv && $kv != *[[:space:]]* ]] || die "no single module tree in $what"
  mods=$d/root/lib/modules/$kv
  ln -s "$(kernel_file "$d" "$kv" vmlinuz)" "$d/bzImage" || die "no kernel image in $what"
  ln -s "$(kernel_file "$d" "$kv" config)" "$d/config" || die "no kernel config in $what"
  [[ -e $mods/modules.builtin ]] || die "no modules.builtin in $what"
  depmod -b "$d/root" "$kv" || die "depmod failed for $kv" # Debian's postinst would do this
  echo "$kv" >"$d/release"
}

# kernel_file DIR KV NAME: where the package put vmlinuz or config.
kernel_file() {
  local f
  for f in "$1/root/boot/$3-$2" "$1/root/usr/lib/modules/$2/$3" "$1/root/lib/modules/$2/$3"; do
    [[ -f $f ]] && { echo "${f#"$1"/}"; return 0; }
  done
  return 1
}

# kernel_prepare: sets kdir, KV, kmoddir, kernel, kernel_desc.
kernel_prepare() {
  local sel=${CTLUA_VM_KERNEL:-bookworm} link conf pkg ver
  [[ $sel != */* && $sel != .* ]] || die "CTLUA_VM_KERNEL: not a suite or package name: '$sel'"
  link=$CACHE/kernel-$sel
  if [[ ${CTLUA_VM_REFRESH:-0} == 1 || ! -e $link/.ready ]]; then
    read -r conf pkg ver < <(kernel_resolve "$sel") || die "cannot resolve CTLUA_VM_KERNEL=$sel"
    kdir=$CACHE/kernels/${pkg}_$ver
    [[ -e $kdir/.ready ]] || kernel_fetch "$conf" "$pkg" "$ver"
    ln -sfn "kernels/$(basename "$kdir")" "$link"
  fi
  kdir=$(readlink -f "$link")
  KV=$(<"$kdir/release")
  kmoddir=$(readlink -f "$kdir/root/lib/modules/$KV")
  kernel_desc="$KV ($(<"$kdir/package"), CTLUA_VM_KERNEL=$sel)"
  kernel_vmlinux
}

# The kernel as an uncompressed ELF image. Debian's bzImage is compressed,
# and decompressing it takes 2.7 s of emulated CPU at every boot; qemu boots
# the ELF vmlinux directly through its PVH entry point (CONFIG_PVH).
# Falls back to the bzImage when that is not possible.
kernel_vmlinux() {
  kernel=$kdir/bzImage
  if [[ ! -e $kdir/vmlinux && ! -e $kdir/.no-vmlinux ]]; then
    if grep -qx CONFIG_PVH=y "$kdir/config" && extract_vmlinux "$kernel" "$kdir/vmlinux.tmp"; then
      mv "$kdir/vmlinux.tmp" "$kdir/vmlinux"
    else
      log "cannot boot an uncompressed kernel (no PVH, or unknown compression): each boot will be slower"
      rm -f "$kdir/vmlinux.tmp"
      touch "$kdir/.no-vmlinux"
    fi
  fi
  [[ -e $kdir/vmlinux ]] && kernel=$kdir/vmlinux
  return 0
}

# extract_vmlinux BZIMAGE OUT: the payload is at (setup_sects+1)*512 +
# payload_offset, payload_length long (header offsets 0x1f1, 0x248, 0x24c).
extract_vmlinux() {
  local z=$1 setup off len magic dec
  setup=$(od -An -tu1 -j $((0x1f1)) -N1 "$z")
  off=$(od -An -tu4 -j $((0x248)) -N4 "$z")
  len=$(od -An -tu4 -j $((0x24c)) -N4 "$z")
  off=$(((setup + 1) * 512 + off))
  magic=$(od -An -tx1 -j "$off" -N6 "$z" | tr -d ' ')
  case $magic in
    fd377a585a00) dec=(xz -dc --single-stream) ;;
    1f8b*) dec=(gzip -dc) ;;
    28b52ffd*) dec=(zstd -dcq) ;;
    *) return 1 ;;
  esac
  tail -c +$((off + 1)) "$z" | head -c "$len" | "${dec[@]}" >"$2" 2>/dev/null || true
  [[ $(od -An -c -N4 "$2" | tr -d ' ') == 177ELF ]]
}

# module_copy KO DIR: copies a module into DIR uncompressed (busybox insmod
# cannot read .ko.xz or .ko.zst) and prints its new base name.
module_copy() {
  local ko=$1 base
  base=$(basename "$ko")
  case $ko in
    *.ko.xz) base=${base%.xz}; xz -dc "$ko" >"$2/$base" ;;
    *.ko.zst) base=${base%.zst}; zstd -dcq "$ko" >"$2/$base" ;;
    *.ko.gz) base=${base%.gz}; gzip -dc "$ko" >"$2/$base" ;;
    *) cp "$ko" "$2/$base" ;;
  esac || die "cannot copy the module $ko"
  echo "$base"
}
