package gluster

import (
	"context"
	"os"
	"path/filepath"
	"testing"
)

func TestCountHealIndex(t *testing.T) {
	brick := t.TempDir()
	ctx := context.Background()
	if n, err := (&CLI{}).PendingHeals(ctx, brick); n != 0 || err != nil {
		t.Fatalf("no index: %d, %v", n, err)
	}
	dir := filepath.Join(brick, ".glusterfs", "indices", "xattrop")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{
		"xattrop-9f0c1d2e-3b4a-4c5d-8e6f-7a8b9c0d1e2f", // the base file
		"00000000-0000-0000-0000-000000000001",
		"be318638-e8a0-4c6d-977d-7a937aa84806",
		"0b5ad4e8-9a3b-4c3a-8d9e-1f2a3b4c5d6e",
		"not-a-gfid",
		"BE318638-E8A0-4C6D-977D-7A937AA84806", // glusterfs writes lower case only
	} {
		if err := os.WriteFile(filepath.Join(dir, name), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if n, err := (&CLI{}).PendingHeals(ctx, brick); n != 3 || err != nil {
		t.Errorf("PendingHeals = %d, %v; want 3", n, err)
	}
}

func BenchmarkCountHealIndex(b *testing.B) {
	dir := b.TempDir()
	for i := range 10000 {
		name := filepath.Join(dir, "00000000-0000-0000-0000-"+fmtHex12(i))
		if err := os.WriteFile(name, nil, 0o644); err != nil {
			b.Fatal(err)
		}
	}
	b.ResetTimer()
	for range b.N {
		if n, err := CountHealIndex(context.Background(), dir); n != 10000 || err != nil {
			b.Fatal(n, err)
		}
	}
}

func fmtHex12(i int) string {
	const hex = "0123456789abcdef"
	out := []byte("000000000000")
	for p := 11; p >= 0 && i > 0; p-- {
		out[p] = hex[i%16]
		i /= 16
	}
	return string(out)
}
