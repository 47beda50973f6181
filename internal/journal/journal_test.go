package journal

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"reflect"
	"runtime"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func openTest(t testing.TB, path string, opts Options) *Journal {
	t.Helper()
	if opts.Logger == nil {
		opts.Logger = quietLogger()
	}
	j, err := Open(path, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { j.Close() })
	return j
}

// testBase is recent, so background retention leaves test events alone.
var testBase = time.Now().UTC().Truncate(time.Microsecond)

func testEvent(i int) Event {
	return Event{
		Time:   testBase.Add(time.Duration(i) * time.Microsecond),
		Node:   "8d1a3c2e-0000-4000-8000-000000000001",
		Name:   "VOLUME_SET",
		Source: "native",
		Object: "/org/gluster/Volume/vol0",
		Fields: []Field{{"volume", "vol0"}, {"i", fmt.Sprint(i)}},
	}
}

func appendN(t testing.TB, j *Journal, n int) []uint64 {
	t.Helper()
	var seqs []uint64
	for i := range n {
		s, err := j.Append(context.Background(), testEvent(i))
		if err != nil {
			t.Fatal(err)
		}
		seqs = append(seqs, s...)
	}
	return seqs
}

func seqsOf(evs []Event) []uint64 {
	var s []uint64
	for _, e := range evs {
		s = append(s, e.Seq)
	}
	return s
}

func seqRange(from, to uint64) []uint64 {
	var s []uint64
	for i := from; i <= to; i++ {
		s = append(s, i)
	}
	return s
}

func TestAppendAndRange(t *testing.T) {
	j := openTest(t, filepath.Join(t.TempDir(), "a", "b", "journal.db"), Options{})
	if j.LastSeq() != 0 || j.FirstSeq() != 0 {
		t.Fatalf("empty journal: last %d first %d", j.LastSeq(), j.FirstSeq())
	}
	seqs, err := j.Append(context.Background(), testEvent(0), testEvent(1), testEvent(2))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(seqs, []uint64{1, 2, 3}) {
		t.Fatalf("seqs %v", seqs)
	}
	appendN(t, j, 1197) // 1200 in all
	if j.LastSeq() != 1200 || j.FirstSeq() != 1 {
		t.Fatalf("last %d first %d", j.LastSeq(), j.FirstSeq())
	}

	evs, err := j.Range(0, 2)
	if err != nil {
		t.Fatal(err)
	}
	want := testEvent(0)
	want.Seq = 1
	if len(evs) != 2 || !reflect.DeepEqual(evs[0], want) {
		t.Fatalf("Range(0,2) = %+v, want first %+v", evs, want)
	}
	for _, tc := range []struct {
		since     uint64
		limit     int
		wantFirst uint64
		wantLen   int
	}{
		{0, 0, 1, 1000},
		{0, -1, 1, 1000},
		{0, 5000, 1, 1200},
		{10, 5, 11, 5},
		{1195, 100, 1196, 5},
		{1200, 10, 0, 0},
		{5000, 10, 0, 0},
		{^uint64(0), 10, 0, 0},
	} {
		evs, err := j.Range(tc.since, tc.limit)
		if err != nil {
			t.Fatal(err)
		}
		if len(evs) != tc.wantLen {
			t.Errorf("Range(%d,%d): %d events, want %d", tc.since, tc.limit, len(evs), tc.wantLen)
			continue
		}
		if tc.wantLen > 0 && !slices.Equal(seqsOf(evs), seqRange(tc.wantFirst, tc.wantFirst+uint64(tc.wantLen)-1)) {
			t.Errorf("Range(%d,%d): seqs %d..%d", tc.since, tc.limit, evs[0].Seq, evs[len(evs)-1].Seq)
		}
	}
}

func TestAppendTime(t *testing.T) {
	j := openTest(t, filepath.Join(t.TempDir(), "journal.db"), Options{})
	before := time.Now().Truncate(time.Microsecond)
	precise := time.Date(2024, 2, 29, 23, 59, 59, 123456789, time.FixedZone("X", 3600))
	in := []Event{{Name: "A"}, {Name: "B", Time: precise}}
	if _, err := j.Append(context.Background(), in...); err != nil {
		t.Fatal(err)
	}
	if !in[0].Time.IsZero() {
		t.Error("Append modified the caller's event")
	}
	evs, err := j.Range(0, 0)
	if err != nil {
		t.Fatal(err)
	}
	if got := evs[0].Time; got.Before(before) || got.After(time.Now()) {
		t.Errorf("zero time stored as %v, want about now", got)
	}
	if got, want := evs[1].Time, precise.Truncate(time.Microsecond); !got.Equal(want) || got.Location() != time.UTC {
		t.Errorf("time stored as %v, want %v in UTC", got, want)
	}
}

func TestAppendNothingAndCancelled(t *testing.T) {
	j := openTest(t, filepath.Join(t.TempDir(), "journal.db"), Options{})
	if seqs, err := j.Append(context.Background()); err != nil || seqs != nil {
		t.Fatalf("empty Append = %v, %v", seqs, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := j.Append(ctx, testEvent(0)); !errors.Is(err, context.Canceled) {
		t.Fatalf("Append with cancelled ctx: %v", err)
	}
	if j.LastSeq() != 0 {
		t.Fatalf("LastSeq %d after no successful append", j.LastSeq())
	}
}

func TestWait(t *testing.T) {
	j := openTest(t, filepath.Join(t.TempDir(), "journal.db"), Options{})
	ctx := context.Background()

	// Many waiters, all woken by one commit.
	var wg sync.WaitGroup
	errs := make(chan error, 50)
	for range 50 {
		wg.Go(func() { errs <- j.Wait(ctx, 0) })
	}
	waitBlockedInWait(t, 50)
	select {
	case err := <-errs:
		t.Fatalf("Wait returned before any append: %v", err)
	default:
	}
	appendN(t, j, 1)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}

	// Already satisfied.
	if err := j.Wait(ctx, 0); err != nil {
		t.Fatal(err)
	}

	// Respects ctx.
	tctx, cancel := context.WithTimeout(ctx, 30*time.Millisecond)
	defer cancel()
	if err := j.Wait(tctx, 1); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Wait past deadline: %v", err)
	}

	// Close wakes waiters.
	res := make(chan error, 1)
	go func() { res <- j.Wait(ctx, 1) }()
	waitBlockedInWait(t, 1)
	j.Close()
	select {
	case err := <-res:
		if !errors.Is(err, ErrClosed) {
			t.Fatalf("Wait after Close: %v", err)
		}
	case <-time.After(time.Minute):
		t.Fatal("Close did not wake Wait")
	}
}

// waitBlockedInWait waits until n goroutines are blocked in Wait, as the
// runtime's goroutine dump shows them.
func waitBlockedInWait(t *testing.T, n int) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	buf := make([]byte, 1<<20)
	for {
		dump := string(buf[:runtime.Stack(buf, true)])
		blocked := 0
		for _, g := range strings.Split(dump, "\n\n") {
			if strings.Contains(g, " [select") && strings.Contains(g, "journal.(*Journal).Wait(") {
				blocked++
			}
		}
		if blocked >= n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d goroutines blocked in Wait after a minute, want %d", blocked, n)
		}
		time.Sleep(5 * time.Millisecond) // polling a condition
	}
}

func TestCursors(t *testing.T) {
	path := filepath.Join(t.TempDir(), "journal.db")
	j := openTest(t, path, Options{})
	if seq, err := j.Cursor("missing"); err != nil || seq != 0 {
		t.Fatalf("missing cursor = %d, %v", seq, err)
	}
	for name, seq := range map[string]uint64{"hook-a": 10, "hook-b": 1 << 40, "hook-c": 3} {
		if err := j.SetCursor(name, seq); err != nil {
			t.Fatal(err)
		}
	}
	if err := j.SetCursor("hook-a", 11); err != nil {
		t.Fatal(err)
	}
	if err := j.DeleteCursor("hook-c"); err != nil {
		t.Fatal(err)
	}
	if err := j.DeleteCursor("never-existed"); err != nil {
		t.Fatal(err)
	}
	if err := j.SetCursor("", 1); err == nil {
		t.Fatal("SetCursor accepted an empty name")
	}
	if err := j.Close(); err != nil {
		t.Fatal(err)
	}
	if err := j.SetCursor("late", 1); !errors.Is(err, ErrClosed) {
		t.Fatalf("SetCursor after Close: %v", err)
	}

	j = openTest(t, path, Options{})
	want := map[string]uint64{"hook-a": 11, "hook-b": 1 << 40}
	got, err := j.Cursors()
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Fatalf("Cursors after reopen = %v, %v; want %v", got, err, want)
	}
	if seq, err := j.Cursor("hook-b"); err != nil || seq != 1<<40 {
		t.Fatalf("Cursor(hook-b) = %d, %v", seq, err)
	}
}

func TestRetentionByCount(t *testing.T) {
	j := openTest(t, filepath.Join(t.TempDir(), "journal.db"), Options{MaxEvents: 10})
	// 2500 events in one call, so pruning needs several batches.
	evs := make([]Event, 2500)
	for i := range evs {
		evs[i] = testEvent(i)
		evs[i].Time = time.Now()
	}
	if _, err := j.Append(context.Background(), evs...); err != nil {
		t.Fatal(err)
	}
	if _, err := j.prune(time.Now()); err != nil {
		t.Fatal(err)
	}
	got, err := j.Range(0, 0)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(seqsOf(got), seqRange(2491, 2500)) {
		t.Fatalf("retained %v", seqsOf(got))
	}
	if j.FirstSeq() != 2491 || j.LastSeq() != 2500 {
		t.Fatalf("first %d last %d", j.FirstSeq(), j.LastSeq())
	}
}

// fakeClock is a journal clock the test moves.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time  { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *fakeClock) Set(t time.Time) { c.mu.Lock(); c.now = t; c.mu.Unlock() }

func useClock(j *Journal, start time.Time) *fakeClock {
	c := &fakeClock{now: start}
	now := c.Now
	j.clock.Store(&now)
	return c
}

// appendAt journals events at the clock's time t.
func appendAt(t *testing.T, j *Journal, c *fakeClock, at time.Time, evs ...Event) {
	t.Helper()
	c.Set(at)
	if _, err := j.Append(context.Background(), evs...); err != nil {
		t.Fatal(err)
	}
}

func TestRetentionByAge(t *testing.T) {
	path := filepath.Join(t.TempDir(), "journal.db")
	j := openTest(t, path, Options{MaxAge: time.Hour})
	now := time.Now()
	clock := useClock(j, now)
	for i, age := range []time.Duration{3 * time.Hour, 2 * time.Hour, 61 * time.Minute, 59 * time.Minute, 0} {
		appendAt(t, j, clock, now.Add(-age), testEvent(i))
	}
	if _, err := j.prune(now); err != nil {
		t.Fatal(err)
	}
	got, _ := j.Range(0, 0)
	if !slices.Equal(seqsOf(got), []uint64{4, 5}) {
		t.Fatalf("retained %v", seqsOf(got))
	}

	// Everything expires: the journal empties but keeps its numbering.
	if _, err := j.prune(now.Add(3 * time.Hour)); err != nil {
		t.Fatal(err)
	}
	if j.FirstSeq() != 0 || j.LastSeq() != 5 {
		t.Fatalf("after full prune: first %d last %d", j.FirstSeq(), j.LastSeq())
	}
	j.Close()

	j = openTest(t, path, Options{MaxAge: time.Hour})
	if j.LastSeq() != 5 {
		t.Fatalf("LastSeq after reopen = %d, want 5", j.LastSeq())
	}
	seqs, err := j.Append(context.Background(), testEvent(6))
	if err != nil || !slices.Equal(seqs, []uint64{6}) {
		t.Fatalf("Append after reopen = %v, %v; want [6]", seqs, err)
	}
}

// TestRetentionIgnoresEventTimes: events whose own time is far in the past
// (a datagram with ts=0) or in the future, out of sequence order, are
// retained by when they were journaled: the old one is not deleted at once,
// and the future one does not hold back the deletion of those before it.
func TestRetentionIgnoresEventTimes(t *testing.T) {
	j := openTest(t, filepath.Join(t.TempDir(), "journal.db"), Options{MaxAge: time.Hour})
	now := time.Now()
	clock := useClock(j, now)
	epoch, future := testEvent(0), testEvent(1)
	epoch.Time = time.Unix(0, 0)
	future.Time = now.Add(10 * 365 * 24 * time.Hour)
	appendAt(t, j, clock, now.Add(-2*time.Hour), testEvent(2), future, testEvent(3)) // 1, 2, 3
	appendAt(t, j, clock, now.Add(-90*time.Minute), future)                          // 4
	appendAt(t, j, clock, now.Add(-10*time.Minute), epoch, testEvent(4))             // 5, 6
	appendAt(t, j, clock, now, future, epoch)                                        // 7, 8

	if _, err := j.prune(now); err != nil {
		t.Fatal(err)
	}
	got, _ := j.Range(0, 0)
	if !slices.Equal(seqsOf(got), []uint64{5, 6, 7, 8}) {
		t.Fatalf("retained %v, want the events journaled in the last hour", seqsOf(got))
	}
	if !got[0].Time.Equal(epoch.Time) || !got[2].Time.Equal(future.Time.UTC().Truncate(time.Microsecond)) {
		t.Fatalf("events' own times changed: %v, %v", got[0].Time, got[2].Time)
	}
	if _, err := j.prune(now.Add(61 * time.Minute)); err != nil {
		t.Fatal(err)
	}
	if got, _ := j.Range(0, 0); len(got) != 0 {
		t.Fatalf("retained %v an hour later", seqsOf(got))
	}
}

// TestRetentionOfVersion1Events: events stored before commit times were
// recorded are judged by their own time, but never as younger than the
// opening of the journal.
func TestRetentionOfVersion1Events(t *testing.T) {
	j := openTest(t, filepath.Join(t.TempDir(), "journal.db"), Options{MaxAge: time.Hour})
	old, recent, future := testEvent(0), testEvent(1), testEvent(2)
	old.Time = j.opened.Add(-2 * time.Hour)
	recent.Time = j.opened.Add(-time.Minute)
	future.Time = j.opened.Add(24 * time.Hour)
	err := j.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketEvents)
		for i, e := range []Event{old, future, recent} {
			v := encodeEvent(nil, &e)
			v = append([]byte{encodingV1}, v[stampOffset+stampLen:]...)
			if err := b.Put(seqKey(uint64(i+1)), v); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := j.prune(j.opened.Add(30 * time.Minute)); err != nil {
		t.Fatal(err)
	}
	if got, _ := j.Range(0, 0); !slices.Equal(seqsOf(got), []uint64{2, 3}) || got[0].Time.Before(j.opened) {
		t.Fatalf("retained %v", got)
	}
	if _, err := j.prune(j.opened.Add(61 * time.Minute)); err != nil {
		t.Fatal(err)
	}
	if got, _ := j.Range(0, 0); len(got) != 0 {
		t.Fatalf("the future-dated version 1 event held back retention: %v", seqsOf(got))
	}
}

func TestRetentionInBackground(t *testing.T) {
	path := filepath.Join(t.TempDir(), "journal.db")
	j := openTest(t, path, Options{})
	old := testEvent(0)
	old.Time = time.Now().Add(-30 * 24 * time.Hour)
	if _, err := j.Append(context.Background(), old, old, testEvent(1)); err != nil {
		t.Fatal(err)
	}
	j.Close()

	// Retention runs on Open without being asked.
	j = openTest(t, path, Options{MaxEvents: 1})
	deadline := time.Now().Add(5 * time.Second)
	for j.FirstSeq() != 3 {
		if time.Now().After(deadline) {
			t.Fatalf("FirstSeq = %d, want 3", j.FirstSeq())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestConcurrentAppend(t *testing.T) {
	path := filepath.Join(t.TempDir(), "journal.db")
	j := openTest(t, path, Options{})
	const workers, perWorker = 32, 100
	results := make([][]uint64, workers)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := range perWorker {
				e := testEvent(i)
				e.Node = fmt.Sprint(w)
				batch := []Event{e}
				if i%10 == 0 {
					batch = append(batch, e) // some multi-event appends
				}
				seqs, err := j.Append(context.Background(), batch...)
				if err != nil {
					t.Error(err)
					return
				}
				if len(seqs) != len(batch) || (len(seqs) == 2 && seqs[1] != seqs[0]+1) {
					t.Errorf("Append of %d events returned %v", len(batch), seqs)
				}
				if last := j.LastSeq(); last < seqs[len(seqs)-1] {
					t.Errorf("LastSeq %d below acknowledged seq %d", last, seqs[len(seqs)-1])
				}
				results[w] = append(results[w], seqs...)
			}
		})
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	owner := map[uint64]int{}
	for w, seqs := range results {
		if !slices.IsSorted(seqs) {
			t.Errorf("worker %d got unordered seqs", w)
		}
		for _, s := range seqs {
			if prev, dup := owner[s]; dup {
				t.Fatalf("seq %d given to workers %d and %d", s, prev, w)
			}
			owner[s] = w
		}
	}
	total := uint64(len(owner))
	j.Close()

	j = openTest(t, path, Options{})
	evs, err := j.Range(0, int(total)+10)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(seqsOf(evs), seqRange(1, total)) {
		t.Fatalf("stored %d events, want 1..%d without gaps", len(evs), total)
	}
	for _, e := range evs {
		if e.Node != fmt.Sprint(owner[e.Seq]) {
			t.Fatalf("event %d stored by node %s, acknowledged to worker %d", e.Seq, e.Node, owner[e.Seq])
		}
	}
}

func TestCloseWhileAppending(t *testing.T) {
	path := filepath.Join(t.TempDir(), "journal.db")
	j := openTest(t, path, Options{})
	var (
		mu    sync.Mutex
		acked = map[uint64]string{}
		wg    sync.WaitGroup
	)
	for w := range 16 {
		wg.Go(func() {
			for i := 0; ; i++ {
				e := testEvent(i)
				e.Node = fmt.Sprintf("%d-%d", w, i)
				seqs, err := j.Append(context.Background(), e)
				if err != nil {
					if !errors.Is(err, ErrClosed) {
						t.Errorf("Append during Close: %v", err)
					}
					return
				}
				mu.Lock()
				acked[seqs[0]] = e.Node
				mu.Unlock()
			}
		})
	}
	// Close while appends are under way: some have been acknowledged.
	deadline := time.Now().Add(time.Minute)
	for {
		mu.Lock()
		n := len(acked)
		mu.Unlock()
		if n >= 16 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d appends acknowledged after a minute", n)
		}
		time.Sleep(time.Millisecond) // polling a condition
	}
	if err := j.Close(); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	if _, err := j.Range(0, 1); !errors.Is(err, ErrClosed) {
		t.Errorf("Range after Close: %v", err)
	}
	if len(acked) == 0 {
		t.Fatal("no append succeeded")
	}

	j = openTest(t, path, Options{})
	evs, err := j.Range(0, len(acked)+100)
	if err != nil {
		t.Fatal(err)
	}
	stored := map[uint64]string{}
	for _, e := range evs {
		stored[e.Seq] = e.Node
	}
	for seq, node := range acked {
		if stored[seq] != node {
			t.Fatalf("acknowledged event %d (%s) stored as %q", seq, node, stored[seq])
		}
	}
}

func TestCommitFailure(t *testing.T) {
	path := filepath.Join(t.TempDir(), "journal.db")
	j := openTest(t, path, Options{})
	appendN(t, j, 3)

	fail := func() error { return syscall.ENOSPC }
	j.failCommit.Store(&fail)
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			seqs, err := j.Append(context.Background(), testEvent(9), testEvent(9))
			if !errors.Is(err, syscall.ENOSPC) || seqs != nil {
				t.Errorf("Append on a full disk = %v, %v", seqs, err)
			}
		})
	}
	wg.Wait()
	if err := j.Health(); !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("Health while failing = %v", err)
	}
	if j.LastSeq() != 3 {
		t.Fatalf("LastSeq = %d after failed commits, want 3", j.LastSeq())
	}
	if evs, _ := j.Range(3, 0); len(evs) != 0 {
		t.Fatalf("failed commit left %d events", len(evs))
	}

	j.failCommit.Store(nil)
	seqs, err := j.Append(context.Background(), testEvent(4))
	if err != nil || !slices.Equal(seqs, []uint64{4}) {
		t.Fatalf("Append after recovery = %v, %v; want [4]", seqs, err)
	}
	if err := j.Health(); err != nil {
		t.Fatalf("Health after recovery = %v", err)
	}
	j.Close()
	j = openTest(t, path, Options{})
	if evs, _ := j.Range(0, 0); !slices.Equal(seqsOf(evs), seqRange(1, 4)) {
		t.Fatalf("stored %v, want 1..4", seqsOf(evs))
	}
}

func TestOpenLocked(t *testing.T) {
	path := filepath.Join(t.TempDir(), "journal.db")
	openTest(t, path, Options{})
	// The first journal stays open to the end: a second Open that waited
	// for it would never return.
	opened := make(chan error, 1)
	go func() {
		j, err := Open(path, Options{Logger: quietLogger()})
		if err == nil {
			j.Close()
		}
		opened <- err
	}()
	var err error
	select {
	case err = <-opened:
	case <-time.After(time.Minute):
		t.Fatal("second Open of a held journal still waiting after a minute")
	}
	if err == nil {
		t.Fatal("second Open of a held journal succeeded")
	}
	if !errors.Is(err, ErrLocked) {
		t.Fatalf("second Open: %v, want ErrLocked", err)
	}
}
