#!/usr/bin/env bash
# run.sh - run one command as root in a throw-away QEMU VM booting Debian's
# stock kernel, which has what our host kernel lacks: nfnetlink_cthelper
# (CONFIG_NF_CT_NETLINK_HELPER) and the NFQUEUE conntrack glue
# (CONFIG_NETFILTER_NETLINK_GLUE_CT).
#
#   tests/vm/run.sh COMMAND [ARGS...]   exit status: the command's; 124 timeout; 125 harness failure
#   tests/vm/run.sh --prepare           install packages, fetch the kernel, build the initramfs
#
# The guest sees the host's root filesystem read-only over virtio-9p, under a
# tmpfs overlay (it can write anywhere; nothing reaches the host), so it runs
# host binaries: go test binaries, ctlua, nft, conntrack, curl, python3. It
# starts in the host's current directory. The command's output comes back
# on a second serial port, its exit status through a shared directory.
#
# Environment:
#   CTLUA_VM_TIMEOUT  seconds before the VM is killed (600)
#   CTLUA_VM_MEM      guest memory in MiB (1024)
#   CTLUA_VM_CPUS     guest CPUs (2)
#   CTLUA_VM_MODULES  modules loaded before the command
#   CTLUA_VM_RWDIRS   colon-separated host dirs mounted read-write at the same path
#   CTLUA_VM_CACHE    kernel and initramfs cache (/var/cache/ctlua-vm)
#   CTLUA_VM_VERBOSE  1: copy the guest console to stderr
# CTLUA_* variables are passed into the guest.
set -euo pipefail
die() { echo "tests/vm: $*" >&2; exit 125; }
say() { echo "tests/vm: $*" >&2; }
[[ $(id -u) == 0 ]] || die "must run as root"
CACHE=${CTLUA_VM_CACHE:-/var/cache/ctlua-vm}
TIMEOUT=${CTLUA_VM_TIMEOUT:-600}
MODULES=${CTLUA_VM_MODULES:-nfnetlink_cthelper nfnetlink_queue nf_conntrack_netlink nft_queue nft_ct nf_nat xt_CT xt_NFQUEUE}
PREPARE=0; [[ ${1:-} == --prepare ]] && { PREPARE=1; shift; }
(( $# || PREPARE )) || { sed -n 2,25p "$0" >&2; exit 2; }
export DEBIAN_FRONTEND=noninteractive

# --- host packages -----------------------------------------------------------
pkgs=(qemu-system-x86 busybox-static kmod cpio iproute2 nftables iptables conntrack python3-pyftpdlib curl tcpdump)
missing=()
for p in "${pkgs[@]}"; do dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' || missing+=("$p"); done
if (( ${#missing[@]} )); then
  say "installing ${missing[*]}"
  apt-get update -qq >/dev/null || die "apt-get update failed"
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null || die "apt-get install failed"
fi

# --- kernel: Debian's meta package, downloaded and unpacked, never installed ----
mkdir -p "$CACHE"; exec 9>"$CACHE/.lock"; flock 9
if [[ ! -e $CACHE/kernel/.complete ]]; then
  kpkg=$(apt-cache depends linux-image-amd64 2>/dev/null | awk '/Depends: linux-image-[0-9]/{print $2; exit}')
  if [[ -z $kpkg ]]; then apt-get update -qq >/dev/null; kpkg=$(apt-cache depends linux-image-amd64 | awk '/Depends: linux-image-[0-9]/{print $2; exit}'); fi
  [[ -n $kpkg ]] || die "cannot resolve linux-image-amd64"
  say "fetching $kpkg"
  rm -rf "$CACHE/kernel" "$CACHE/dl"; mkdir -p "$CACHE/dl"; chmod 0777 "$CACHE/dl"  # apt downloads as _apt
  (cd "$CACHE/dl" && apt-get download -qq "$kpkg") >/dev/null 2>&1 || die "apt-get download $kpkg failed"
  dpkg -x "$CACHE"/dl/*.deb "$CACHE/kernel"; rm -rf "$CACHE/dl"
  kv=$(ls "$CACHE/kernel/lib/modules")
  depmod -b "$CACHE/kernel" "$kv"      # the .deb ships no modules.dep
  echo "$kv" > "$CACHE/kernel/release"; rm -f "$CACHE/initramfs.gz"
  touch "$CACHE/kernel/.complete"
fi
KV=$(cat "$CACHE/kernel/release")

# --- initramfs: busybox and the modules to reach the host root ------------------
if [[ ! -s $CACHE/initramfs.gz ]]; then
  d=$(mktemp -d)
  mkdir -p "$d"/{bin,sbin,proc,sys,dev,lower,rw,run,root,mods}
  cp /bin/busybox "$d/bin/"
  for m in virtio_pci 9pnet_virtio 9p overlay virtio_rng; do
    modprobe -d "$CACHE/kernel" -S "$KV" --show-depends "$m" | awk '$1=="insmod"{print $2}'
  done | awk '!seen[$0]++' | while read -r ko; do cp "$ko" "$d/mods/"; basename "$ko"; done > "$d/mods/order"
  cat > "$d/init" <<'INIT'
#!/bin/busybox sh
/bin/busybox --install -s
mount -t proc proc /proc; mount -t sysfs sys /sys; mount -t devtmpfs dev /dev
fail() { echo "CTLUA-VM-HARNESS-FAILED: $*" > /dev/ttyS1; reboot -f; }
for m in $(cat /mods/order); do insmod /mods/$m 2>/dev/null; done
opts=trans=virtio,version=9p2000.L,msize=262144
mount -t 9p -o $opts,cache=none run /run || fail "run share"
. /run/vm.conf
mount -t 9p -o $opts,ro,cache=loose host /lower || fail "host root"
mount -t tmpfs tmpfs /rw; mkdir /rw/u /rw/w
mount -t overlay -o lowerdir=/lower,upperdir=/rw/u,workdir=/rw/w overlay /root || fail "overlay"
R=/root
mount -t proc proc $R/proc; mount -t sysfs sys $R/sys; mount -t devtmpfs dev $R/dev
mkdir -p $R/dev/pts $R/dev/shm; mount -t devpts -o newinstance devpts $R/dev/pts; mount -t tmpfs tmpfs $R/dev/shm
mount -t tmpfs tmpfs $R/run; mkdir -p $R/run/ctlua-vm $R/run/netns $R/run/lock
mount --bind /run $R/run/ctlua-vm
mount -t cgroup2 cgroup2 $R/sys/fs/cgroup 2>/dev/null
mkdir -p $R/lib/modules/$KV; mount --bind /lower$KDIR/lib/modules/$KV $R/lib/modules/$KV
i=0; for dir in $RWDIRS; do mount -t 9p -o $opts,cache=none rw$i $R$dir || fail "rw $dir"; i=$((i+1)); done
echo 1 > /proc/sys/kernel/sysrq
stty -F /dev/ttyS1 raw -echo
umount /proc /sys; umount -l /dev
# switch_root, not chroot: module auto-loading and user namespaces need the
# overlay to be the real root.
exec switch_root $R /bin/bash /run/ctlua-vm/stage2.sh
INIT
  chmod +x "$d/init"
  (cd "$d" && find . | cpio -o -H newc --quiet | gzip -1) > "$CACHE/initramfs.gz"
  rm -rf "$d"
fi
flock -u 9
(( PREPARE )) && { say "prepared kernel $KV"; exit 0; }

# --- per-run directory: configuration in, exit status out -----------------------
RUN=$(mktemp -d /tmp/ctlua-vm.XXXXXX); chmod 755 "$RUN"
trap 'rm -rf "$RUN"' EXIT
rw=""; IFS=: read -r -a dirs <<< "${CTLUA_VM_RWDIRS:-}"
for dir in "${dirs[@]}"; do [[ -n $dir ]] && rw+="$(readlink -f "$dir") "; done
printf 'KV=%q\nKDIR=%q\nRWDIRS=%q\n' "$KV" "$CACHE/kernel" "$rw" > "$RUN/vm.conf"
cat > "$RUN/stage2.sh" <<'STAGE2'
#!/bin/bash
echo "ctlua-vm: command starts (uptime $(cut -d' ' -f1 /proc/uptime)s)" > /dev/ttyS0
/bin/bash /run/ctlua-vm/cmd.sh </dev/null >/dev/ttyS1 2>&1
echo $? > /run/ctlua-vm/rc
sync
echo b > /proc/sysrq-trigger
STAGE2
{
  echo 'export PATH=/usr/local/go/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8'
  while IFS='=' read -r name _; do [[ $name == CTLUA_* ]] && printf 'export %s=%q\n' "$name" "${!name}"; done < <(env)
  printf 'cd %q || exit 125\n' "$PWD"
  for m in $MODULES; do printf 'modprobe %q 2>/dev/null || echo "tests/vm: modprobe %s failed" >&2\n' "$m" "$m"; done
  printf 'exec'; printf ' %q' "$@"; echo
} > "$RUN/cmd.sh"

accel=(-accel tcg,thread=multi -cpu max); [[ -w /dev/kvm ]] && accel=(-accel kvm -cpu host)
fs=(-fsdev "local,id=host,path=/,security_model=none,readonly=on,multidevs=remap" -device virtio-9p-pci,fsdev=host,mount_tag=host
    -fsdev "local,id=run,path=$RUN,security_model=none,multidevs=remap" -device virtio-9p-pci,fsdev=run,mount_tag=run)
i=0; for dir in $rw; do fs+=(-fsdev "local,id=rw$i,path=$dir,security_model=none,multidevs=remap" -device "virtio-9p-pci,fsdev=rw$i,mount_tag=rw$i"); i=$((i+1)); done
append="console=ttyS0 panic=-1 oops=panic rdinit=/init tsc=reliable no_timer_check nokaslr mitigations=off random.trust_cpu=on"
[[ ${CTLUA_VM_VERBOSE:-0} == 1 ]] || append+=" quiet loglevel=3"
if [[ ${CTLUA_VM_VERBOSE:-0} == 1 ]]; then : > "$RUN/console.log"; tail -F "$RUN/console.log" >&2 2>/dev/null & fi
set +e
timeout -k 10 "$TIMEOUT" qemu-system-x86_64 -nodefaults -no-user-config -display none -no-reboot \
  -machine pc "${accel[@]}" -m "${CTLUA_VM_MEM:-1024}" -smp "${CTLUA_VM_CPUS:-2}" \
  -kernel "$CACHE/kernel/boot/vmlinuz-$KV" -initrd "$CACHE/initramfs.gz" -append "$append" \
  -serial "file:$RUN/console.log" -chardev stdio,id=out,signal=off -serial chardev:out \
  "${fs[@]}" -device virtio-rng-pci </dev/null 2>"$RUN/qemu.err" | cat
qrc=${PIPESTATUS[0]}
set -e
[[ ${CTLUA_VM_VERBOSE:-0} == 1 ]] && kill %1 2>/dev/null
if [[ -s $RUN/rc ]]; then exit "$(cat "$RUN/rc")"; fi
if (( qrc == 124 || qrc == 137 )); then say "timeout after ${TIMEOUT}s"; rc=124; else say "the VM returned no exit status (qemu $qrc)"; rc=125; fi
echo "--- qemu stderr" >&2; cat "$RUN/qemu.err" >&2
echo "--- guest console (last 40 lines)" >&2; tail -40 "$RUN/console.log" >&2
exit $rc
