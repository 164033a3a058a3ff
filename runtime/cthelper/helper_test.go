package cthelper

import (
	"math"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
)

func TestHelperValidate(t *testing.T) {
	policies := func(n int) []Policy {
		ps := make([]Policy, n)
		for i := range ps {
			ps[i] = Policy{Name: string(rune('a' + i)), MaxExpected: 1, Timeout: time.Second}
		}
		return ps
	}
	// with returns ftp changed by fn.
	with := func(fn func(h *Helper)) Helper {
		h := ftp
		h.Policies = append([]Policy(nil), ftp.Policies...)
		fn(&h)
		return h
	}

	tests := []struct {
		name string
		h    Helper
		want string // "" for a valid helper
	}{
		{name: "ftp", h: ftp},
		{name: "tftp", h: tftp},
		{
			name: "limits",
			h: Helper{
				Name:     "abcdefghijklmno",
				L3:       IPv6,
				L4:       UDP,
				QueueNum: math.MaxUint32,
				Policies: []Policy{
					{Name: "123456789012345", MaxExpected: 255, Timeout: math.MaxUint32 * time.Second},
					{Name: "b", MaxExpected: 1, Timeout: time.Second},
					{Name: "c", MaxExpected: 1, Timeout: time.Second},
					{Name: "d", MaxExpected: 1, Timeout: time.Second},
				},
				PrivSize: 32,
			},
		},
		{
			name: "empty name",
			h:    with(func(h *Helper) { h.Name = "" }),
			want: `cthelper: helper "": name must not be empty`,
		},
		{
			name: "long name",
			h:    with(func(h *Helper) { h.Name = "abcdefghijklmnop" }),
			want: `cthelper: helper "abcdefghijklmnop": name must be at most 15 bytes, got 16`,
		},
		{
			name: "NUL in name",
			h:    with(func(h *Helper) { h.Name = "a\x00b" }),
			want: `cthelper: helper "a\x00b": name must not contain NUL bytes`,
		},
		{
			name: "no l3",
			h:    with(func(h *Helper) { h.L3 = 0 }),
			want: `cthelper: helper "ftp": l3 must be ipv4 (2) or ipv6 (10), got 0`,
		},
		{
			name: "l3 inet",
			h:    with(func(h *Helper) { h.L3 = 1 }),
			want: `cthelper: helper "ftp": l3 must be ipv4 (2) or ipv6 (10), got 1`,
		},
		{
			name: "l4 sctp",
			h:    with(func(h *Helper) { h.L4 = 132 }),
			want: `cthelper: helper "ftp": l4 must be tcp (6) or udp (17), got 132`,
		},
		{
			name: "no policies",
			h:    with(func(h *Helper) { h.Policies = nil }),
			want: `cthelper: helper "ftp": needs 1..4 policies, got 0`,
		},
		{
			name: "five policies",
			h:    with(func(h *Helper) { h.Policies = policies(5) }),
			want: `cthelper: helper "ftp": needs 1..4 policies, got 5`,
		},
		{
			name: "policy without name",
			h:    with(func(h *Helper) { h.Policies = append(policies(1), Policy{MaxExpected: 1, Timeout: time.Second}) }),
			want: `cthelper: helper "ftp": policy 1: name must not be empty`,
		},
		{
			name: "policy long name",
			h:    with(func(h *Helper) { h.Policies[0].Name = "abcdefghijklmnop" }),
			want: `cthelper: helper "ftp": policy 0 ("abcdefghijklmnop"): name must be at most 15 bytes, got 16`,
		},
		{
			name: "policy names not unique",
			h: with(func(h *Helper) {
				h.Policies = policies(3)
				h.Policies[2].Name = "a"
			}),
			want: `cthelper: helper "ftp": policy 2 ("a"): name is also used by policy 0, names must be unique`,
		},
		{
			name: "max_expected 0",
			h: with(func(h *Helper) {
				h.Policies = policies(3)
				h.Policies[2].MaxExpected = 0
			}),
			want: `cthelper: helper "ftp": policy 2 ("c"): max_expected must be 1..255, got 0`,
		},
		{
			name: "max_expected 256",
			h:    with(func(h *Helper) { h.Policies[0].MaxExpected = 256 }),
			want: `cthelper: helper "ftp": policy 0 ("ftp"): max_expected must be 1..255, got 256`,
		},
		{
			name: "timeout 0",
			h:    with(func(h *Helper) { h.Policies[0].Timeout = 0 }),
			want: `cthelper: helper "ftp": policy 0 ("ftp"): timeout must be whole seconds from 1s to 4294967295s, got 0s`,
		},
		{
			name: "timeout below a second",
			h:    with(func(h *Helper) { h.Policies[0].Timeout = 500 * time.Millisecond }),
			want: `cthelper: helper "ftp": policy 0 ("ftp"): timeout must be whole seconds from 1s to 4294967295s, got 500ms`,
		},
		{
			name: "timeout not whole seconds",
			h:    with(func(h *Helper) { h.Policies[0].Timeout = 1500 * time.Millisecond }),
			want: `cthelper: helper "ftp": policy 0 ("ftp"): timeout must be whole seconds from 1s to 4294967295s, got 1.5s`,
		},
		{
			name: "timeout beyond be32",
			h:    with(func(h *Helper) { h.Policies[0].Timeout = (math.MaxUint32 + 1) * time.Second }),
			want: `cthelper: helper "ftp": policy 0 ("ftp"): timeout must be whole seconds from 1s to 4294967295s, got 1193046h28m16s`,
		},
		{
			name: "private data too large",
			h:    with(func(h *Helper) { h.PrivSize = 33 }),
			want: `cthelper: helper "ftp": private data size must be 0..32 bytes, got 33`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.h.Validate()
			if tt.want == "" {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("Validate: no error, want %q", tt.want)
			}
			if got := err.Error(); got != tt.want {
				t.Fatalf("Validate:\n got %s\nwant %s", got, tt.want)
			}
		})
	}
}

func TestUnmarshalHelper(t *testing.T) {
	requireLittleEndian(t)
	tests := []struct {
		name string
		data []byte
		want Helper
	}{
		{name: "kernel reply", data: ftpReply, want: ftp},
		{name: "old kernel, out of order, unknown attribute", data: tftpReplyOld, want: tftp},
		{name: "own create request", data: createTFTP, want: tftp},
		{name: "no attributes", data: noAttrs, want: Helper{}},
		{
			name: "name without NUL, status neither enabled nor disabled",
			data: []byte{
				0x00, 0x00, 0x00, 0x00, // nfgenmsg
				0x07, 0x00, 0x01, 0x00, 'a', 'b', 'c', 0x00, // NFCTH_NAME "abc", no NUL
				0x08, 0x00, 0x06, 0x00, 0x00, 0x00, 0x00, 0x02, // NFCTH_STATUS 2
			},
			want: Helper{Name: "abc"},
		},
		{
			name: "policy sets beyond SET_NUM ignored",
			data: []byte{
				0x00, 0x00, 0x00, 0x00, // nfgenmsg
				0x24, 0x00, 0x04, 0x80, // NFCTH_POLICY, 36 bytes
				0x08, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x01, //   SET_NUM 1
				0x0c, 0x00, 0x02, 0x80, //   SET1
				0x08, 0x00, 0x01, 0x00, 'a', 0x00, 0x00, 0x00, //     NAME "a\0\0\0"
				0x0c, 0x00, 0x03, 0x80, //   SET2
				0x08, 0x00, 0x01, 0x00, 'b', 0x00, 0x00, 0x00, //     NAME "b"
			},
			want: Helper{Policies: []Policy{{Name: "a"}}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := unmarshalHelper(tt.data)
			if err != nil {
				t.Fatalf("unmarshalHelper: %v", err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Fatalf("unexpected helper (-want +got):\n%s", diff)
			}
		})
	}
}

func TestUnmarshalHelperErrors(t *testing.T) {
	requireLittleEndian(t)
	tests := []struct {
		name string
		data []byte
	}{
		{name: "no nfgenmsg", data: []byte{0x00, 0x00}},
		{
			name: "truncated attribute",
			data: []byte{
				0x00, 0x00, 0x00, 0x00,
				0x08, 0x00, 0x01, 0x00, 'f', // NFCTH_NAME says 8 bytes, has 5
			},
		},
		{
			name: "queue number of 2 bytes",
			data: []byte{
				0x00, 0x00, 0x00, 0x00,
				0x06, 0x00, 0x03, 0x00, 0x00, 0x05, 0x00, 0x00, // NFCTH_QUEUE_NUM, be16
			},
		},
		{
			name: "l4 of 2 bytes",
			data: []byte{
				0x00, 0x00, 0x00, 0x00,
				0x0c, 0x00, 0x02, 0x80, // NFCTH_TUPLE
				0x06, 0x00, 0x02, 0x00, 0x00, 0x06, 0x00, 0x00, //   L4PROTONUM as be16
			},
		},
		{
			name: "policy set missing",
			data: []byte{
				0x00, 0x00, 0x00, 0x00,
				0x18, 0x00, 0x04, 0x80, // NFCTH_POLICY
				0x08, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x02, //   SET_NUM 2
				0x0c, 0x00, 0x02, 0x80, //   SET1 only
				0x08, 0x00, 0x01, 0x00, 'a', 0x00, 0x00, 0x00,
			},
		},
		{
			name: "too many policy sets",
			data: []byte{
				0x00, 0x00, 0x00, 0x00,
				0x0c, 0x00, 0x04, 0x80, // NFCTH_POLICY
				0x08, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x05, //   SET_NUM 5
			},
		},
		{
			name: "truncated policy set",
			data: []byte{
				0x00, 0x00, 0x00, 0x00,
				0x0c, 0x00, 0x04, 0x80, // NFCTH_POLICY
				0x08, 0x00, 0x02, 0x80, //   SET1
				0x08, 0x00, 0x02, 0x00, //     EXPECT_MAX says 8 bytes, has 4
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if h, err := unmarshalHelper(tt.data); err == nil {
				t.Fatalf("unmarshalHelper: no error, got %+v", h)
			}
		})
	}
}

func TestL3ProtoString(t *testing.T) {
	for _, tt := range []struct {
		p    L3Proto
		want string
	}{
		{IPv4, "ipv4"},
		{IPv6, "ipv6"},
		{7, "l3proto(7)"},
	} {
		if got := tt.p.String(); got != tt.want {
			t.Errorf("L3Proto(%d).String() = %q, want %q", uint16(tt.p), got, tt.want)
		}
	}
}

// FuzzDecodeHelper checks that the reply decoder never panics and that
// whatever it decodes encodes back to the same helper.
func FuzzDecodeHelper(f *testing.F) {
	for _, b := range [][]byte{ftpReply, tftpReplyOld, createFTP, createTFTP, updateTFTP, deleteTFTP, noAttrs} {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		h, err := unmarshalHelper(data)
		if err != nil {
			return
		}
		attrs, err := h.marshal(true)
		if err != nil {
			t.Fatalf("marshal %+v: %v", h, err)
		}
		got, err := unmarshalHelper(withHeader(attrs))
		if err != nil {
			t.Fatalf("unmarshal of marshalled %+v: %v", h, err)
		}
		if diff := cmp.Diff(h, got, cmpopts.EquateEmpty()); diff != "" {
			t.Fatalf("round trip changed the helper (-decoded +round-tripped):\n%s", diff)
		}
	})
}
