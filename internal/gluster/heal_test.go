package gluster

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestCountHealIndex(t *testing.T) {
	brick := t.TempDir()
	ctx := context.Background()
	if n, err := (&CLI{}).PendingHeals(ctx, brick, HealIndex{}); n != (HealIndex{}) || err != nil {
		t.Fatalf("no index: %+v, %v", n, err)
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
	if n, err := (&CLI{}).PendingHeals(ctx, brick, HealIndex{}); n.Entries != 3 || err != nil {
		t.Errorf("PendingHeals = %+v, %v; want 3", n, err)
	}
}

// An index directory unchanged since its last count, which it had been for
// a while, is not read again; one that changed, or had just changed when it
// was counted, is.
func TestCountHealIndexSinceReadsOnlyAChangedIndex(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	add := func(name string) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(dir, name), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	add("00000000-0000-0000-0000-000000000001")

	// Just changed: counted, and not to be reused.
	first, err := CountHealIndexSince(ctx, dir, HealIndex{})
	if err != nil || first.Entries != 1 || first.Reusable() {
		t.Fatalf("first count = %+v, %v; want 1 entry, not reusable", first, err)
	}
	forged := first
	forged.Entries = 99
	if again, _ := CountHealIndexSince(ctx, dir, forged); again.Entries != 1 {
		t.Errorf("a count made while the directory had just changed was reused: %d entries, want 1", again.Entries)
	}

	// Settled (no wait: the settle time is made nothing): reused while the
	// directory looks the same.
	defer func(was time.Duration) { settleTime = was }(settleTime)
	settleTime = -time.Hour // a directory changed up to an hour from now has settled
	settled, err := CountHealIndexSince(ctx, dir, HealIndex{})
	if err != nil || settled.Entries != 1 || !settled.Reusable() {
		t.Fatalf("settled count = %+v, %v; want 1 entry, reusable", settled, err)
	}
	forged = settled
	forged.Entries = 99
	if again, _ := CountHealIndexSince(ctx, dir, forged); again.Entries != 99 {
		t.Errorf("an unchanged directory was read again: %d entries, want the last count 99", again.Entries)
	}

	add("00000000-0000-0000-0000-000000000002")
	if again, _ := CountHealIndexSince(ctx, dir, forged); again.Entries != 2 {
		t.Errorf("after an entry was added: %d entries, want 2", again.Entries)
	}
	if err := os.Remove(filepath.Join(dir, "00000000-0000-0000-0000-000000000001")); err != nil {
		t.Fatal(err)
	}
	if again, _ := CountHealIndexSince(ctx, dir, forged); again.Entries != 1 {
		t.Errorf("after an entry was removed: %d entries, want 1", again.Entries)
	}
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	if again, err := CountHealIndexSince(ctx, dir, forged); again != (HealIndex{}) || err != nil {
		t.Errorf("after the directory went: %+v, %v; want none", again, err)
	}
}

// BenchmarkCountHealIndexSince is the read of an unchanged index of 10 000
// entries: one stat.
func BenchmarkCountHealIndexSince(b *testing.B) {
	dir := b.TempDir()
	for i := range 10000 {
		if err := os.WriteFile(filepath.Join(dir, "00000000-0000-0000-0000-"+fmtHex12(i)), nil, 0o644); err != nil {
			b.Fatal(err)
		}
	}
	defer func(was time.Duration) { settleTime = was }(settleTime)
	settleTime = -time.Hour
	last, err := CountHealIndexSince(context.Background(), dir, HealIndex{})
	if err != nil || !last.Reusable() {
		b.Fatal(last, err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if n, err := CountHealIndexSince(context.Background(), dir, last); n.Entries != 10000 || err != nil {
			b.Fatal(n, err)
		}
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
