package objpath

import (
	"regexp"
	"testing"
)

var elemRE = regexp.MustCompile(`^[A-Za-z0-9_]+$`)

func TestEncodeKnown(t *testing.T) {
	for name, want := range map[string]string{
		"gv0":                     "gv0",
		"gv-0":                    "gv_2d0",
		"a_b":                     "a_5fb",
		"a-b":                     "a_2db",
		"":                        "_",
		"127.1.1.1:/bricks/b1":    "127_2e1_2e1_2e1_3a_2fbricks_2fb1",
		"\xff":                    "_ff",
		"0e6f1c2a-0000-4000-8000": "0e6f1c2a_2d0000_2d4000_2d8000",
	} {
		if got := Encode(name); got != want {
			t.Errorf("Encode(%q) = %q, want %q", name, got, want)
		}
	}
}

func TestDecodeRejects(t *testing.T) {
	for _, elem := range []string{"", "a_", "a_2", "a_zz", "a-b", "a/b", "_g0"} {
		if got, err := Decode(elem); err == nil {
			t.Errorf("Decode(%q) = %q, want an error", elem, got)
		}
	}
}

func TestDecodeAcceptsSystemdStyle(t *testing.T) {
	// systemd escapes a leading digit; both spellings decode to the same name.
	got, err := Decode("_30vol")
	if err != nil || got != "0vol" {
		t.Fatalf("Decode(_30vol) = %q, %v", got, err)
	}
}

func TestNoCollisions(t *testing.T) {
	seen := map[string]string{}
	names := []string{"a_b", "a-b", "a.b", "a_2db", "a_5fb", "_", "", "__", "a b", "A_B"}
	for _, n := range names {
		e := Encode(n)
		if other, ok := seen[e]; ok {
			t.Fatalf("%q and %q both encode to %q", n, other, e)
		}
		seen[e] = n
	}
}

func FuzzRoundTrip(f *testing.F) {
	for _, s := range []string{"gv0", "gv-0", "a_b", "", "host:/path/with spaces", "\x00\xff", "ü"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		e := Encode(name)
		if !elemRE.MatchString(e) {
			t.Fatalf("Encode(%q) = %q is not a valid path element", name, e)
		}
		back, err := Decode(e)
		if err != nil || back != name {
			t.Fatalf("Decode(Encode(%q)) = %q, %v", name, back, err)
		}
	})
}

func FuzzDecode(f *testing.F) {
	for _, s := range []string{"gv_2d0", "_", "a_", "_zz", "abc"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, elem string) {
		name, err := Decode(elem)
		if err != nil {
			return
		}
		// Whatever decodes must decode back from its canonical encoding.
		if back, err := Decode(Encode(name)); err != nil || back != name {
			t.Fatalf("canonical round trip of %q failed: %q, %v", name, back, err)
		}
	})
}
