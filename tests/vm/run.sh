#!/usr/bin/env bash
# tests/vm/run.sh - run one command as root inside a throw-away QEMU VM that
# boots Debian's stock kernel.
#
# Why: our host kernel lacks CONFIG_NF_CT_NETLINK_HELPER (nfnetlink_cthelper,
# the user-space conntrack helper API) and CONFIG_NETFILTER_NETLINK_GLUE_CT
# (conntrack attributes on NFQUEUE packets). Debian's kernel has both.
#
# Usage:
#   tests/vm/run.sh [--] CMD [ARGS...]   run CMD in the VM (needs root)
#   tests/vm/run.sh --prepare            install packages, fetch the kernel and
#                                        build the initramfs, then stop
#
# CMD runs as root in the guest, in the same directory as on the host, with
# stdin from /dev/null. Its stdout and stderr come back, merged, on our
# stdout. The exit status is CMD's; 124 if the VM timed out; 125 if the
# harness or the VM failed (the qemu stderr and the tail of the guest console
# are printed on stderr then).
#
# The guest sees the host's whole root file system read-only (virtio-9p)
# under a tmpfs overlay: it runs any host binary (go test binaries, nft,
# iptables, conntrack, python3, curl...), may write anywhere, and nothing it
# writes reaches the host, except in CTLUA_VM_RWDIRS. The guest has no NIC;
# tests build their own network namespaces and veth pairs.
#
# Environment (all optional):
#   CTLUA_VM_TIMEOUT  seconds before the VM is killed, boot included (600)
#   CTLUA_VM_MEM      guest memory in MiB (1024)
#   CTLUA_VM_CPUS     guest CPUs (2)
#   CTLUA_VM_MODULES  kernel modules to load before CMD; set it empty for none
#                     (nfnetlink_cthelper nfnetlink_queue nf_conntrack_netlink
#                      nft_queue nft_ct xt_CT xt_NFQUEUE nf_nat)
#                     Other modules are auto-loaded on demand as usual.
#   CTLUA_VM_RWDIRS   colon-separated host directories mounted READ-WRITE at
#                     the same path in the guest (no spaces in the paths)
#   CTLUA_VM_CACHE    kernel and initramfs cache (/var/cache/ctlua-vm, ~440 MB)
#   CTLUA_VM_VERBOSE  1: stream the guest console (boot log) to stderr and
#                     print timings
#   CTLUA_VM_ENV      space-separated names of more variables to pass in
#   CTLUA_VM_KERNEL   the guest kernel: bookworm (Debian 12's, the default),
#                     trixie (Debian 13's), trixie-backports (the newest
#                     backports kernel), or a linux-image-X package name
#                     (kernel.sh); the version it resolves to is cached
#   CTLUA_VM_REFRESH  1: ask apt again which kernel that means
#   CTLUA_VM_KEEP     1: keep the per-run directory (console log, scripts)
#   CTLUA_VM_ACCEL    auto (default), kvm or tcg. auto is TCG unless a probe
#                     proves KVM boots, and faster (accel.sh); the log line
#                     "accelerator ..." says which was chosen and why
#
# The guest environment is PATH (the host's), HOME=/root, TERM=dumb,
# LANG=C.UTF-8, every CTLUA_* variable, the CTLUA_VM_ENV ones, and
# CTLUA_VM_GUEST=1.
#
# How it works (details and measured timings in tests/vm/README.md):
#  1. apt-get installs what is missing: qemu-system-x86, busybox-static, kmod,
#     cpio, xz-utils, and the test tools (iproute2 nftables iptables conntrack
#     python3-pyftpdlib curl tcpdump).
#  2. The kernel .deb is downloaded (never installed), unpacked into the
#     cache, and `depmod -b` makes its modules.dep (the .deb ships none).
#     The compressed bzImage is unpacked once into an ELF vmlinux, which qemu
#     boots directly (PVH): that saves 2.7 s of decompression per boot.
#  3. A small initramfs (static busybox plus the virtio, 9p and overlay
#     modules) mounts the host root and the overlay, then switch_root's into
#     it: PID 1 becomes the host's bash running guest.sh from the per-run
#     directory (a read-write 9p share at /run/ctlua-vm in the guest).
#  4. guest.sh loads CTLUA_VM_MODULES, runs CMD with its output on the second
#     serial port (ttyS1, our stdout; the kernel console is ttyS0, a log
#     file), writes CMD's exit status to the per-run directory and reboots;
#     qemu runs with -no-reboot, so it exits.
set -euo pipefail

readonly ME=ctlua-vm
log() { echo "$ME: $*" >&2; }
die() { echo "$ME: $*" >&2; exit 125; }
usage() { sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "$0" >&2; }

CACHE=${CTLUA_VM_CACHE:-/var/cache/ctlua-vm}
TIMEOUT=${CTLUA_VM_TIMEOUT:-600}
MEM=${CTLUA_VM_MEM:-1024}
CPUS=${CTLUA_VM_CPUS:-2}
MODULES=${CTLUA_VM_MODULES-nfnetlink_cthelper nfnetlink_queue nf_conntrack_netlink nft_queue nft_ct xt_CT xt_NFQUEUE nf_nat}
VERBOSE=${CTLUA_VM_VERBOSE:-0}

prepare=0
case ${1-} in
  --prepare) prepare=1; shift ;;
  -h|--help) usage; exit 0 ;;
  --) shift ;;
esac
if (( prepare )); then
  (( $# == 0 )) || { log "--prepare takes no command"; exit 2; }
elif (( $# == 0 )); then
  usage; exit 2
fi
[[ $(id -u) == 0 ]] || die "must run as root (apt-get, qemu reading the whole file system)"
for v in TIMEOUT MEM CPUS; do
  [[ ${!v} =~ ^[1-9][0-9]*$ ]] || die "CTLUA_VM_$v must be a positive integer, not '${!v}'"
done

# Removed on exit: temporary directories, and the console follower.
tmpdirs=()
tailpid=
cleanup() {
  [[ -n $tailpid ]] && kill "$tailpid" 2>/dev/null
  (( ${#tmpdirs[@]} )) && rm -rf "${tmpdirs[@]}"
  return 0
}
trap cleanup EXIT

# ---------------------------------------------------------------------------
# 1. Host packages
export DEBIAN_FRONTEND=noninteractive
apt_opts=(-qq -o DPkg::Lock::Timeout=300)   # wait for a concurrent apt
apt_updated=0
apt_update() {
  (( apt_updated )) && return 0
  log "apt-get update"
  apt-get "${apt_opts[@]}" update >/dev/null || die "apt-get update failed"
  apt_updated=1
}

packages=(qemu-system-x86 busybox-static kmod cpio xz-utils # the harness
          iproute2 nftables iptables conntrack python3-pyftpdlib curl tcpdump tftpd-hpa tftp-hpa  # the tests
          ngircd sane-utils libsane1 samba samba-common-bin  # the kernel twins (tests/e2e/kernel-twins.sh, broadcast.sh)
          conntrackd nfct  # conntrackd: the peer of its helpers' twins, and the HA pair's sync (tests/e2e/ha.sh)
          avahi-daemon dnsmasq-base isc-dhcp-client miniupnpd-nftables miniupnpc  # the multicast twins (tests/e2e/mcast.sh)
          rpcbind nfs-common)  # RPC (tests/e2e/rpc-tns.sh, tests/peers/conntrackd-rpc-tns.sh)
installed=" $(dpkg-query -W -f='${db:Status-Abbrev} ${Package}\n' "${packages[@]}" 2>/dev/null \
  | awk '$1 == "ii" { printf "%s ", $2 }' || true)"
missing=()
for p in "${packages[@]}"; do [[ $installed == *" $p "* ]] || missing+=("$p"); done
if (( ${#missing[@]} )); then
  apt_update
  log "installing ${missing[*]}"
  t0=$SECONDS
  if ! out=$(apt-get "${apt_opts[@]}" install -y --no-install-recommends "${missing[@]}" 2>&1); then
    printf '%s\n' "$out" >&2
    die "apt-get install failed"
  fi
  log "installed in $((SECONDS - t0)) s"
fi

# ---------------------------------------------------------------------------
# 2. The kernel (kernel.sh), cached as CACHE/kernels/<package>_<version>/ with
#    CACHE/kernel-<CTLUA_VM_KERNEL> pointing at the one in use. The lock
#    serialises concurrent runs while they fill the cache; it is released
#    before the VM starts.
[[ $CACHE != *[[:space:]]* ]] || die "CTLUA_VM_CACHE: no spaces, please: '$CACHE'"
mkdir -p "$CACHE"
exec 9>"$CACHE/.lock"
flock 9

# shellcheck source=tests/vm/kernel.sh
. "$(dirname "$0")/kernel.sh"
kernel_prepare

# ---------------------------------------------------------------------------
# 3. The initramfs. Its name carries a hash of its contents, so editing the
#    init script below rebuilds it on the next run.
boot_modules="virtio_pci 9pnet_virtio 9p overlay virtio_rng"
read -r -d '' init_script <<'EOF_INIT' || true
#!/bin/busybox sh
# PID 1 in the initramfs: mount the host root under an overlay and
# switch_root into it.
/bin/busybox --install -s /bin
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
echo 1 >/proc/sys/kernel/sysrq
# The accelerator probe (accel.sh): booting this far is all it asks.
if grep -qw ctlua.probe /proc/cmdline; then
	echo "ctlua-vm: probe ok" >/dev/ttyS0
	echo b >/proc/sysrq-trigger
	sleep 60
fi
fail() {
	echo "ctlua-vm: guest init: $*" >/dev/ttyS0
	echo "ctlua-vm: guest init: $*" >/dev/ttyS1
	echo b >/proc/sysrq-trigger    # qemu runs with -no-reboot: it exits
	sleep 60
}
while read -r ko; do
	insmod "/modules/$ko" || echo "ctlua-vm: insmod $ko failed" >/dev/ttyS0
done </modules/order

o=trans=virtio,version=9p2000.L,msize=262144
# The per-run directory (read-write, uncached): mounts.conf in, rc out.
mount -t 9p -o "$o,cache=none" ctlua_run /ctl || fail "cannot mount the run directory"
. /ctl/mounts.conf    # KV KMODDIR RWDIRS
# The host root, read-only. cache=loose: nothing changes it under us.
mount -t 9p -o "$o,ro,cache=loose" hostroot /lower || fail "cannot mount the host root"
mount -t tmpfs -o mode=0755 tmpfs /rw
mkdir /rw/upper /rw/work
mount -t overlay -o lowerdir=/lower,upperdir=/rw/upper,workdir=/rw/work overlay /newroot ||
	fail "cannot mount the overlay"

R=/newroot
mount -t proc proc $R/proc
mount -t sysfs sysfs $R/sys
mount -t devtmpfs devtmpfs $R/dev
mkdir -p $R/dev/pts $R/dev/shm
mount -t devpts -o newinstance,ptmxmode=0666 devpts $R/dev/pts
# What udev would add: bash's process substitution needs /dev/fd.
ln -s /proc/self/fd $R/dev/fd
ln -s /proc/self/fd/0 $R/dev/stdin
ln -s /proc/self/fd/1 $R/dev/stdout
ln -s /proc/self/fd/2 $R/dev/stderr
mount -t tmpfs tmpfs $R/dev/shm
mount -t cgroup2 cgroup2 $R/sys/fs/cgroup 2>/dev/null
mount -t tmpfs -o mode=0755 tmpfs $R/run
mkdir -p $R/run/ctlua-vm $R/run/netns $R/run/lock
mount --move /ctl $R/run/ctlua-vm
# The kernel's modules, where modprobe looks (for auto-loading too).
mkdir -p $R/lib/modules/$KV
mount --bind /lower$KMODDIR $R/lib/modules/$KV || fail "cannot bind the modules"
i=0
for d in $RWDIRS; do
	mkdir -p $R$d
	mount -t 9p -o "$o,cache=none" ctlua_rw$i $R$d || fail "cannot mount $d read-write"
	i=$((i + 1))
done

# switch_root, not chroot: the kernel runs /sbin/modprobe (auto-loading) and
# checks user namespaces against PID 1's root, which must be the overlay.
umount /proc /sys
umount -l /dev
exec switch_root $R /bin/bash /run/ctlua-vm/guest.sh
EOF_INIT

initrd_id=$({ printf '%s\n' "$init_script" "$boot_modules"; sha256sum /bin/busybox; } | sha256sum | cut -c1-12)
initrd=$kdir/initramfs-$initrd_id.gz
if [[ ! -s $initrd ]]; then
  t0=$SECONDS
  ldd /bin/busybox >/dev/null 2>&1 && die "/bin/busybox is dynamically linked; install busybox-static"
  d=$(mktemp -d); tmpdirs+=("$d")
  mkdir -p "$d"/{bin,proc,sys,dev,ctl,lower,rw,newroot,modules}
  cp /bin/busybox "$d/bin/busybox"
  printf '%s\n' "$init_script" >"$d/init"
  chmod 0755 "$d/init"
  # Dependencies first, in the order modprobe would load them.
  for m in $boot_modules; do
    modprobe -d "$kdir/root" -S "$KV" --show-depends "$m" || die "no module $m in $KV"
  done | awk '$1 == "insmod" && !seen[$2]++ { print $2 }' | while read -r ko; do
    module_copy "$ko" "$d/modules"
  done >"$d/modules/order"
  (cd "$d" && find . | cpio -o -H newc -R 0:0 --quiet | gzip -1) >"$initrd.tmp"
  mv "$initrd.tmp" "$initrd"
  find "$kdir" -maxdepth 1 -name 'initramfs-*.gz' ! -name "${initrd##*/}" -delete
  log "initramfs built in $((SECONDS - t0)) s"
fi
# The accelerator (accel.sh), probed under the lock: one probe at a time.
QEMU=qemu-system-x86_64
KVM_DEVICE=/dev/kvm
# shellcheck source=tests/vm/accel.sh
. "$(dirname "$0")/accel.sh"
choose_accel "$kernel" "$initrd" "$CACHE" || die "cannot choose an accelerator"
log "kernel $kernel_desc"
log "accelerator $accel: $accel_reason"
flock -u 9
exec 9>&-

if (( prepare )); then
  log "ready: kernel $KV ($(<"$kdir/package")) in $kdir"
  exit 0
fi

# ---------------------------------------------------------------------------
# 4. The per-run directory, shared read-write at /run/ctlua-vm in the guest.
run=$(mktemp -d "${TMPDIR:-/tmp}/ctlua-vm.XXXXXX")
chmod 0755 "$run"
if [[ ${CTLUA_VM_KEEP:-0} == 1 ]]; then log "keeping $run"; else tmpdirs+=("$run"); fi

rwdirs=()
IFS=: read -r -a dirs <<<"${CTLUA_VM_RWDIRS:-}"
for dir in "${dirs[@]}"; do
  [[ -n $dir ]] || continue
  [[ -d $dir ]] || die "CTLUA_VM_RWDIRS: $dir is not a directory"
  dir=$(readlink -f "$dir")
  [[ $dir != / ]] || die "CTLUA_VM_RWDIRS: / cannot be read-write"
  [[ $dir != *[[:space:]]* ]] || die "CTLUA_VM_RWDIRS: no spaces, please: '$dir'"
  rwdirs+=("$dir")
done

# For busybox sh in the initramfs: plain assignments only.
printf 'KV=%s\nKMODDIR=%s\nRWDIRS="%s"\n' "$KV" "$kmoddir" "${rwdirs[*]}" >"$run/mounts.conf"

guest_env=("PATH=$PATH" HOME=/root TERM=dumb LANG=C.UTF-8)
for name in $(compgen -e) ${CTLUA_VM_ENV:-}; do
  if [[ $name == CTLUA_* || " ${CTLUA_VM_ENV:-} " == *" $name "* ]] && [[ -v $name ]]; then
    guest_env+=("$name=${!name}")
  fi
done
guest_env+=(CTLUA_VM_GUEST=1)
{
  printf 'GUEST_CWD=%q\n' "$PWD"
  printf 'MODULES=%q\n' "$MODULES"
  printf 'GUEST_ENV=('; printf ' %q' "${guest_env[@]}"; printf ' )\n'
  printf 'CMD=('; printf ' %q' "$@"; printf ' )\n'
} >"$run/cmd.conf"

cat >"$run/guest.sh" <<'EOF_GUEST'
#!/bin/bash
# PID 1 of the guest after switch_root: run the command, hand its exit status
# to the host, power off. The console (ttyS0) gets our own messages; the
# command's output goes to ttyS1, which is the host's stdout.
export PATH=/usr/sbin:/usr/bin:/sbin:/bin   # ours; the command gets GUEST_ENV
ctl=/run/ctlua-vm
out=/dev/ttyS1
. $ctl/cmd.conf
say() { echo "ctlua-vm: $* (uptime $(cut -d' ' -f1 /proc/uptime) s)" >/dev/ttyS0; }
stty -F $out raw -echo 2>/dev/null   # byte-exact: no \n -> \r\n
echo ctlua-vm >/proc/sys/kernel/hostname
ip link set lo up 2>/dev/null
# One modprobe for all (each one reads modules.dep: 0.1 s under emulation);
# one by one only to tell which failed.
if [[ -n $MODULES ]] && ! modprobe -a $MODULES 2>/dev/null; then
	for m in $MODULES; do
		modprobe "$m" >$out 2>&1 || echo "ctlua-vm: modprobe $m failed" >$out
	done
fi
say "command starts"
if cd "$GUEST_CWD" 2>/dev/null; then
	(
		for v in $(compgen -e); do unset "$v"; done
		for kv in "${GUEST_ENV[@]}"; do export "$kv"; done
		exec "${CMD[@]}"
	) </dev/null >$out 2>&1
	rc=$?
else
	echo "ctlua-vm: no directory $GUEST_CWD in the guest" >$out
	rc=125
fi
say "command exited $rc"
# stty sets the mode with TCSADRAIN: it returns once the UART has sent
# everything, so the reboot below cannot cut the output short.
stty -F $out raw -echo 2>/dev/null
echo $rc >$ctl/rc
sync
echo b >/proc/sysrq-trigger
sleep 60
EOF_GUEST

# ---------------------------------------------------------------------------
# 5. Boot.
append="console=ttyS0 rdinit=/init panic=-1 oops=panic"
append+=" tsc=reliable no_timer_check nokaslr mitigations=off random.trust_cpu=on"
[[ $VERBOSE == 1 ]] || append+=" quiet loglevel=3"

# multidevs=remap: the shared trees span several host file systems; without it
# inode numbers could collide in the guest.
share() { # id path [readonly]
  echo "-fsdev local,id=$1,path=${2//,/,,},security_model=none,multidevs=remap${3:+,readonly=on}"
  echo "-device virtio-9p-pci,fsdev=$1,mount_tag=$1"
}
fs_args=()
while read -r a b; do fs_args+=("$a" "$b"); done < <(
  share hostroot / ro
  share ctlua_run "$run"
  i=0; for dir in "${rwdirs[@]}"; do share "ctlua_rw$i" "$dir"; i=$((i + 1)); done
)

qemu=(qemu-system-x86_64 -nodefaults -no-user-config -display none -no-reboot
  -machine pc "${accel_args[@]}" -m "$MEM" -smp "$CPUS"
  -kernel "$kernel" -initrd "$initrd" -append "$append"
  -serial "file:$run/console.log"                        # ttyS0: kernel console
  -chardev stdio,id=out,signal=off -serial chardev:out   # ttyS1: the command's output
  "${fs_args[@]}"
  -device virtio-rng-pci)

if [[ $VERBOSE == 1 ]]; then
  : >"$run/console.log"
  tail -n +1 -F "$run/console.log" >&2 2>/dev/null &
  tailpid=$!
  log "booting $KV ($accel, $CPUS CPUs, $MEM MiB)"
fi

# qemu's output goes through cat: qemu sets O_NONBLOCK on its stdout, which
# would otherwise leak to whoever shares our stdout (a terminal, go test, CI).
# stdin is /dev/null, so qemu never puts a terminal into raw mode. qemu runs
# in the background so that a signal to us can stop it at once.
start=$(date +%s.%N)
boot_vm() {
  exec {outfd}> >(cat)
  catpid=$!
  timeout -k 10 "$TIMEOUT" "${qemu[@]}" </dev/null >&"$outfd" 2>"$run/qemu.stderr" &
  qpid=$!
  signalled=0
  trap 'stop 1' HUP; trap 'stop 2' INT; trap 'stop 15' TERM
  set +e
  wait "$qpid"; qrc=$?
  (( signalled )) && { wait "$qpid"; qrc=$?; }
  set -e
  trap - INT TERM HUP
  exec {outfd}>&-
  wait "$catpid" 2>/dev/null || true
}
stop() { signalled=$1; kill -TERM "$qpid" 2>/dev/null; }
# A guest that dies before CMD starts never ran it, so it is booted again,
# once: under TCG, 7.x kernels sometimes crash early while patching their
# own code (an oops in sched_clock_cpu during the initcalls, about one
# boot in ten). A timeout is not retried.
for attempt in 1 2; do
  boot_vm
  (( signalled )) || [[ -s $run/rc ]] || (( qrc == 124 || qrc == 137 )) && break
  grep -q 'ctlua-vm: command starts' "$run/console.log" && break
  (( attempt < 2 )) || break
  cp "$run/console.log" "$run/console.boot$attempt.log"
  log "the guest died before the command started (qemu exit status $qrc: $(grep -m1 -aoE 'Kernel panic.*|BUG: .*|Oops.*|invalid opcode.*' "$run/console.log" || echo 'no panic message')); booting it again"
done
if [[ -n $tailpid ]]; then sleep 0.2; kill "$tailpid" 2>/dev/null || true; tailpid=; fi

if [[ $VERBOSE == 1 ]]; then
  boot=$(sed -n 's/.*ctlua-vm: command starts (uptime \([0-9.]*\) s).*/\1/p' "$run/console.log")
  done_=$(sed -n 's/.*ctlua-vm: command exited [0-9]* (uptime \([0-9.]*\) s).*/\1/p' "$run/console.log")
  log "$(awk -v s="$start" -v e="$(date +%s.%N)" -v b="${boot:-0}" -v d="${done_:-0}" \
    'BEGIN { printf "wall %.1f s; guest uptime at command start %.1f s, command %.1f s", e - s, b, d - b }')"
fi

(( signalled )) && { log "stopped by signal $signalled"; exit $((128 + signalled)); }
if [[ -s $run/rc ]]; then
  rc=$(<"$run/rc")
  [[ $rc =~ ^[0-9]+$ ]] || rc=125
  exit "$rc"
fi
if (( qrc == 124 || qrc == 137 )); then
  log "timeout: the VM ran longer than ${TIMEOUT} s (CTLUA_VM_TIMEOUT)"
  rc=124
else
  log "the VM stopped without an exit status (qemu exit status $qrc)"
  rc=125
fi
{
  echo "---- qemu stderr"
  cat "$run/qemu.stderr"
  echo "---- guest console, last 50 lines (CTLUA_VM_VERBOSE=1 shows the whole boot)"
  tail -n 50 "$run/console.log"
} >&2 2>/dev/null || true
exit "$rc"
