# shellcheck shell=bash
# tests/vm/accel.sh - choose qemu's accelerator by what works, not by whether
# /dev/kvm exists. Sourced by run.sh; tests/vm/accel_test.go drives it with a
# fake qemu.
#
# Some machines expose /dev/kvm while nested KVM is broken: qemu aborts at
# once ("failed to set MSR 0x10a", exit status 134), or, with that MSR
# masked, boots so slowly that a guest running `uname -r` has not finished
# after 200 s where software emulation (TCG) takes 7 s. So:
#
#   CTLUA_VM_ACCEL=tcg   software emulation, no probe;
#   CTLUA_VM_ACCEL=kvm   KVM, no probe (fails as qemu fails);
#   CTLUA_VM_ACCEL=auto  (the default) TCG, unless a probe proves that KVM
#                        boots the guest kernel, and faster than TCG does.
#
# The probe boots the kernel and initramfs in probe mode (`ctlua.probe` on
# the kernel command line: /init prints a marker on the console and powers
# off) under KVM with a tight timeout, and, only if that worked, under TCG to
# compare. The verdict is cached per host boot, qemu binary and KVM device in
# CTLUA_VM_CACHE, so a machine probes once per boot.
#
# Inputs: QEMU (the qemu binary, qemu-system-x86_64), KVM_DEVICE (/dev/kvm),
# CTLUA_VM_ACCEL. Outputs (globals): accel (kvm or tcg), accel_args (qemu
# arguments) and accel_reason (one line: why).

readonly ACCEL_PROBE_MARKER="ctlua-vm: probe ok"
# The KVM probe's timeout in seconds, when TCG's time is not known yet. A
# working KVM boots the probe in about a second; TCG needs 2-3 s here.
ACCEL_PROBE_TIMEOUT=${ACCEL_PROBE_TIMEOUT:-20}

# accel_args_for ACCEL: the qemu arguments for an accelerator.
accel_args_for() {
  case $1 in
    kvm) echo "-accel kvm -cpu host" ;;
    # -cpu max: RDRAND, so the guest does not wait for entropy.
    tcg) echo "-accel tcg,thread=multi -cpu max" ;;
    *) return 1 ;;
  esac
}

# accel_probe ACCEL KERNEL INITRD TIMEOUT OUTFILE: boot the probe; prints the
# elapsed milliseconds and returns 0 when the marker came out in time.
# On failure OUTFILE holds qemu's output and the last line of the reason.
accel_probe() {
  local a=$1 kernel=$2 initrd=$3 timeout=$4 out=$5 t0 t1 rc=0
  local -a args
  read -r -a args <<<"$(accel_args_for "$a")"
  t0=$(date +%s%N)
  timeout -k 2 "$timeout" "$QEMU" -nodefaults -no-user-config -display none -no-reboot \
    -machine pc "${args[@]}" -m 256 -smp 1 \
    -kernel "$kernel" -initrd "$initrd" \
    -append "console=ttyS0 rdinit=/init panic=-1 quiet loglevel=0 ctlua.probe" \
    -serial stdio </dev/null >"$out" 2>&1 || rc=$?
  t1=$(date +%s%N)
  echo $(((t1 - t0) / 1000000))
  if grep -q "$ACCEL_PROBE_MARKER" "$out"; then
    return 0
  fi
  if ((rc == 124 || rc == 137)); then
    echo "did not boot within ${timeout} s" >>"$out"
  else
    echo "qemu exit status $rc" >>"$out"
  fi
  return 1
}

# accel_failure OUTFILE: one line saying why a probe failed: qemu's first
# error line, if any, and the exit status or timeout.
accel_failure() {
  local err
  err=$(grep -m1 -iE 'error|assert|abort|fail' "$1" | cut -c1-160)
  echo "$(tail -n1 "$1")${err:+: $err}"
}

# accel_cache_key: what the probe's verdict depends on.
accel_cache_key() {
  local boot qemu_id
  boot=$(cat /proc/sys/kernel/random/boot_id 2>/dev/null || echo unknown)
  qemu_id=$(ls -lL --time-style=+%s "$(command -v "$QEMU")" 2>/dev/null | awk '{ print $5 "-" $6 }')
  printf '%s %s %s\n' "$boot" "$qemu_id" "$KVM_DEVICE" | sha256sum | cut -c1-16
}

# choose_accel KERNEL INITRD CACHEDIR: sets accel, accel_args, accel_reason.
choose_accel() {
  local kernel=$1 initrd=$2 cache=$3 want=${CTLUA_VM_ACCEL:-auto}
  case $want in
    kvm | tcg)
      accel=$want
      accel_reason="CTLUA_VM_ACCEL=$want"
      ;;
    auto) choose_accel_auto "$kernel" "$initrd" "$cache" ;;
    *)
      echo "CTLUA_VM_ACCEL must be auto, kvm or tcg, not '$want'" >&2
      return 1
      ;;
  esac
  read -r -a accel_args <<<"$(accel_args_for "$accel")"
}

# choose_accel_auto KERNEL INITRD CACHEDIR: the probe, or its cached verdict.
choose_accel_auto() {
  local kernel=$1 initrd=$2 cache=$3 file
  if [[ ! -e $KVM_DEVICE || ! -w $KVM_DEVICE ]]; then
    accel=tcg
    accel_reason="no usable $KVM_DEVICE"
    return 0
  fi
  file=$cache/accel-$(accel_cache_key)
  if [[ -s $file ]]; then
    read -r accel accel_reason <"$file"
    accel_reason="$accel_reason (probed earlier on this boot)"
    return 0
  fi
  accel_run_probes "$kernel" "$initrd"
  find "$cache" -maxdepth 1 -name 'accel-*' -delete 2>/dev/null
  echo "$accel $accel_reason" >"$file"
}

# accel_run_probes KERNEL INITRD: KVM first; TCG only to compare a KVM that
# worked.
accel_run_probes() {
  local kernel=$1 initrd=$2 out kvm_ms tcg_ms
  out=$(mktemp "${TMPDIR:-/tmp}/ctlua-vm-probe.XXXXXX")
  if ! kvm_ms=$(accel_probe kvm "$kernel" "$initrd" "$ACCEL_PROBE_TIMEOUT" "$out"); then
    accel=tcg
    accel_reason="$KVM_DEVICE exists but the KVM probe failed ($(accel_failure "$out"))"
  elif ! tcg_ms=$(accel_probe tcg "$kernel" "$initrd" "$ACCEL_PROBE_TIMEOUT" "$out"); then
    accel=kvm
    accel_reason="the KVM probe booted in ${kvm_ms} ms; the TCG one failed ($(accel_failure "$out"))"
  elif ((kvm_ms < tcg_ms)); then
    accel=kvm
    accel_reason="the KVM probe booted in ${kvm_ms} ms, TCG in ${tcg_ms} ms"
  else
    accel=tcg
    accel_reason="KVM boots slower than TCG (probe: ${kvm_ms} ms against ${tcg_ms} ms)"
  fi
  rm -f "$out"
}
