//go:build !vm

package vm

// These tests drive accel.sh, the harness's choice of qemu accelerator, with
// a fake qemu, so that a machine whose /dev/kvm is broken cannot silently
// get KVM again. They need neither root nor qemu.

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// fakeQEMU behaves under each accelerator as FAKE_KVM and FAKE_TCG say:
// "abort" prints qemu's MSR assertion and exits 134, "hang" never boots,
// "ok" boots at once, "slow" boots after 0.4 s, "fail" exits 1 without
// booting. Every call appends its accelerator to $FAKE_LOG.
const fakeQEMU = `#!/bin/bash
accel=
while (($#)); do
  [[ $1 == -accel ]] && accel=${2%%,*}
  shift
done
echo "$accel" >>"$FAKE_LOG"
case $accel in kvm) how=$FAKE_KVM ;; *) how=$FAKE_TCG ;; esac
case $how in
  abort)
    echo "qemu-system-x86_64: error: failed to set MSR 0x10a to 0x69" >&2
    echo "qemu-system-x86_64: kvm.c:3183: kvm_buf_set_msrs: Assertion failed." >&2
    exit 134 ;;
  hang) exec sleep 30 ;;
  slow) sleep 0.4; echo "ctlua-vm: probe ok" ;;
  ok) echo "[    0.5] sysrq: Resetting"; echo "ctlua-vm: probe ok" ;;
  fail) echo "qemu-system-x86_64: could not load kernel" >&2; exit 1 ;;
esac
`

type accelCase struct {
	name       string
	want       string // CTLUA_VM_ACCEL, "" for unset
	kvmDevice  bool   // whether the fake KVM device exists and is writable
	kvm, tcg   string // the fake's behaviour
	accel      string // the accelerator chosen
	reason     string // a substring of the reason
	probes     string // the probes run, in order, e.g. "kvm tcg"
	wantErrSub string // choose_accel fails with this on stderr
}

func TestChooseAccel(t *testing.T) {
	cases := []accelCase{
		{name: "kvm aborts (MSR 0x10a)", kvmDevice: true, kvm: "abort", tcg: "ok",
			accel: "tcg", reason: "qemu exit status 134: qemu-system-x86_64: error: failed to set MSR 0x10a", probes: "kvm"},
		{name: "kvm crawls", kvmDevice: true, kvm: "hang", tcg: "ok",
			accel: "tcg", reason: "did not boot within 1 s", probes: "kvm"},
		{name: "kvm works and is faster", kvmDevice: true, kvm: "ok", tcg: "slow",
			accel: "kvm", reason: "the KVM probe booted in", probes: "kvm tcg"},
		{name: "kvm boots but slower than tcg", kvmDevice: true, kvm: "slow", tcg: "ok",
			accel: "tcg", reason: "KVM boots slower than TCG", probes: "kvm tcg"},
		{name: "no kvm device", kvmDevice: false, kvm: "ok", tcg: "ok",
			accel: "tcg", reason: "no usable", probes: ""},
		{name: "asked for kvm", want: "kvm", kvmDevice: true, kvm: "abort", tcg: "ok",
			accel: "kvm", reason: "CTLUA_VM_ACCEL=kvm", probes: ""},
		{name: "asked for tcg", want: "tcg", kvmDevice: true, kvm: "ok", tcg: "ok",
			accel: "tcg", reason: "CTLUA_VM_ACCEL=tcg", probes: ""},
		{name: "asked for nonsense", want: "hvf", kvmDevice: true, kvm: "ok", tcg: "ok",
			wantErrSub: "CTLUA_VM_ACCEL must be auto, kvm or tcg, not 'hvf'"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			accel, reason, probes, stderr, err := runChooseAccel(t, dir, c)
			if c.wantErrSub != "" {
				if err == nil || !strings.Contains(stderr, c.wantErrSub) {
					t.Fatalf("choose_accel: err %v, stderr %q; want a failure saying %q", err, stderr, c.wantErrSub)
				}
				return
			}
			if err != nil {
				t.Fatalf("choose_accel: %v\n%s", err, stderr)
			}
			if accel != c.accel || !strings.Contains(reason, c.reason) {
				t.Errorf("chose %s (%s); want %s with a reason containing %q", accel, reason, c.accel, c.reason)
			}
			if probes != c.probes {
				t.Errorf("probes run: %q; want %q", probes, c.probes)
			}
		})
	}
}

// TestChooseAccelCachesTheProbe checks that a second run on the same boot
// reuses the verdict instead of probing again.
func TestChooseAccelCachesTheProbe(t *testing.T) {
	dir := t.TempDir()
	c := accelCase{kvmDevice: true, kvm: "abort", tcg: "ok"}
	if a, _, probes, stderr, err := runChooseAccel(t, dir, c); err != nil || a != "tcg" || probes != "kvm" {
		t.Fatalf("first run: %s after probes %q, err %v\n%s", a, probes, err, stderr)
	}
	if err := os.Remove(filepath.Join(dir, "log")); err != nil {
		t.Fatal(err)
	}
	a, reason, probes, stderr, err := runChooseAccel(t, dir, c)
	if err != nil || a != "tcg" || probes != "" || !strings.Contains(reason, "probed earlier on this boot") {
		t.Fatalf("second run: %s (%s) after probes %q, err %v; want tcg from the cache, no probe\n%s",
			a, reason, probes, err, stderr)
	}
}

// runChooseAccel sources accel.sh in bash with the fake qemu and returns
// the choice, its reason and the probes the fake saw.
func runChooseAccel(t *testing.T, dir string, c accelCase) (accel, reason, probes, stderr string, err error) {
	t.Helper()
	// Written once: the probe's cache key holds the binary's size and
	// modification time.
	qemu := filepath.Join(dir, "qemu")
	if _, err := os.Stat(qemu); err != nil {
		if err := os.WriteFile(qemu, []byte(fakeQEMU), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	kvm := filepath.Join(dir, "kvm")
	if c.kvmDevice {
		if err := os.WriteFile(kvm, nil, 0o666); err != nil {
			t.Fatal(err)
		}
	}
	cache := filepath.Join(dir, "cache")
	if err := os.MkdirAll(cache, 0o755); err != nil {
		t.Fatal(err)
	}
	log := filepath.Join(dir, "log")
	script := `set -euo pipefail
. ./accel.sh
choose_accel kernel initrd "$CACHE"
printf '%s\n%s\n' "$accel" "$accel_reason"
printf '%s\n' "${accel_args[*]}" >"$CACHE/../args"`
	cmd := exec.Command("bash", "-c", script)
	cmd.Env = append(os.Environ(), "QEMU="+qemu, "KVM_DEVICE="+kvm, "CACHE="+cache,
		"FAKE_LOG="+log, "FAKE_KVM="+c.kvm, "FAKE_TCG="+c.tcg, "ACCEL_PROBE_TIMEOUT=1",
		"CTLUA_VM_ACCEL="+c.want)
	var out, errb strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errb
	err = cmd.Run()
	lines := strings.SplitN(strings.TrimSpace(out.String()), "\n", 2)
	if len(lines) == 2 {
		accel, reason = lines[0], lines[1]
		checkAccelArgs(t, dir, accel)
	}
	if b, rerr := os.ReadFile(log); rerr == nil {
		probes = strings.Join(strings.Fields(string(b)), " ")
	}
	return accel, reason, probes, errb.String(), err
}

// checkAccelArgs checks that the qemu arguments match the choice.
func checkAccelArgs(t *testing.T, dir, accel string) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "args"))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"kvm": "-accel kvm -cpu host", "tcg": "-accel tcg,thread=multi -cpu max"}[accel]
	if got := strings.TrimSpace(string(b)); got != want {
		t.Errorf("qemu arguments for %s: %q; want %q", accel, got, want)
	}
}
