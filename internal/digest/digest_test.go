package digest

import (
	"bytes"
	"testing"
)

// TestDigest: the same bytes have the same digest, written at once or in
// pieces; a byte changed, added or moved changes it.
func TestDigest(t *testing.T) {
	data := bytes.Repeat([]byte("Volume1.Brick1.port: 49152\n"), 1000)
	want := Of(data)
	if again := Of(bytes.Clone(data)); again != want {
		t.Errorf("the same bytes: %x, then %x", want, again)
	}
	for _, piece := range []int{1, 7, 128, 129, 4096, len(data)} {
		d := New()
		for rest := data; len(rest) > 0; {
			n := min(piece, len(rest))
			d.Write(rest[:n])
			rest = rest[n:]
		}
		if got := d.Sum(); got != want {
			t.Errorf("written %d bytes at a time: %x, want %x", piece, got, want)
		}
	}
	changed := bytes.Clone(data)
	changed[len(changed)/2] ^= 1
	swapped := bytes.Clone(data)
	swapped[0], swapped[1] = swapped[1], swapped[0]
	for name, other := range map[string][]byte{
		"a bit flipped":   changed,
		"a byte added":    append(bytes.Clone(data), '\n'),
		"a byte less":     data[:len(data)-1],
		"two bytes moved": swapped,
		"nothing":         nil,
	} {
		if got := Of(other); got == want || got[0] == want[0] || got[1] == want[1] {
			t.Errorf("%s: %x, the same as %x", name, got, want)
		}
	}
}

// BenchmarkDigest is the digest of about 10 MB (the size of get-state or
// of `volume info all` at 5000 volumes) in one piece and in pieces of 64
// KiB.
func BenchmarkDigest(b *testing.B) {
	data := bytes.Repeat([]byte("Volume1.Brick1.port: 49152\n"), 10<<20/27)
	b.Run("at-once", func(b *testing.B) {
		b.SetBytes(int64(len(data)))
		for b.Loop() {
			Of(data)
		}
	})
	b.Run("streamed", func(b *testing.B) {
		b.SetBytes(int64(len(data)))
		for b.Loop() {
			d := New()
			for rest := data; len(rest) > 0; {
				n := min(64<<10, len(rest))
				d.Write(rest[:n])
				rest = rest[n:]
			}
			d.Sum()
		}
	})
}
