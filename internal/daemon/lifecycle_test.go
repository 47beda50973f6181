package daemon

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"slices"
	"sync"
	"testing"
)

// trace records what components do, in order.
type trace struct {
	mu  sync.Mutex
	got []string
}

func (tr *trace) add(s string) {
	tr.mu.Lock()
	tr.got = append(tr.got, s)
	tr.mu.Unlock()
}

func (tr *trace) all() []string {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	return slices.Clone(tr.got)
}

// traced is a component that records its start, the end of its run and its
// stop; its run lasts until its context ends, and fails with runErr.
func traced(tr *trace, name string, startErr, runErr error) component {
	return component{
		name: name,
		start: func(context.Context) error {
			tr.add("start " + name)
			return startErr
		},
		run: func(ctx context.Context) error {
			if runErr != nil {
				return runErr
			}
			<-ctx.Done()
			tr.add("ran " + name)
			return nil
		},
		stop: func() { tr.add("stop " + name) },
	}
}

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func TestLifecycleStopsInReverse(t *testing.T) {
	tr := &trace{}
	ctx, cancel := context.WithCancel(context.Background())
	lc := newLifecycle(ctx, quiet())
	if err := lc.start(ctx, traced(tr, "a", nil, nil), traced(tr, "b", nil, nil), component{name: "c"}, traced(tr, "d", nil, nil)); err != nil {
		t.Fatal(err)
	}
	cancel()
	lc.wait(ctx)
	if err := lc.stop(); err != nil {
		t.Fatal(err)
	}
	want := []string{"start a", "start b", "start d", "ran d", "stop d", "ran b", "stop b", "ran a", "stop a"}
	if got := tr.all(); !slices.Equal(got, want) {
		t.Fatalf("got  %q\nwant %q", got, want)
	}
}

func TestLifecycleStartFailureStopsWhatStarted(t *testing.T) {
	tr := &trace{}
	ctx := context.Background()
	lc := newLifecycle(ctx, quiet())
	boom := errors.New("boom")
	err := lc.start(ctx, traced(tr, "a", nil, nil), traced(tr, "b", nil, nil), traced(tr, "c", boom, nil), traced(tr, "d", nil, nil))
	if !errors.Is(err, boom) {
		t.Fatalf("start: %v, want %v", err, boom)
	}
	if err := lc.stop(); err != nil {
		t.Fatal(err)
	}
	want := []string{"start a", "start b", "start c", "ran b", "stop b", "ran a", "stop a"}
	if got := tr.all(); !slices.Equal(got, want) {
		t.Fatalf("got  %q\nwant %q", got, want)
	}
}

func TestLifecycleRunFailureStopsAll(t *testing.T) {
	tr := &trace{}
	ctx := context.Background()
	lc := newLifecycle(ctx, quiet())
	boom := errors.New("boom")
	if err := lc.start(ctx, traced(tr, "a", nil, nil), traced(tr, "b", nil, boom), traced(tr, "c", nil, nil)); err != nil {
		t.Fatal(err)
	}
	lc.wait(ctx) // returns: b failed
	if err := lc.stop(); !errors.Is(err, boom) {
		t.Fatalf("stop: %v, want %v", err, boom)
	}
	want := []string{"start a", "start b", "start c", "ran c", "stop c", "stop b", "ran a", "stop a"}
	if got := tr.all(); !slices.Equal(got, want) {
		t.Fatalf("got  %q\nwant %q", got, want)
	}
}

func TestLifecycleStopRequestedWhileStarting(t *testing.T) {
	tr := &trace{}
	ctx, cancel := context.WithCancel(context.Background())
	lc := newLifecycle(ctx, quiet())
	stopNow := component{name: "signal", start: func(context.Context) error { cancel(); return nil }}
	if err := lc.start(ctx, traced(tr, "a", nil, nil), stopNow, traced(tr, "b", nil, nil)); err != nil {
		t.Fatal(err)
	}
	lc.wait(ctx)
	if err := lc.stop(); err != nil {
		t.Fatal(err)
	}
	want := []string{"start a", "ran a", "stop a"}
	if got := tr.all(); !slices.Equal(got, want) {
		t.Fatalf("got  %q\nwant %q", got, want)
	}
}
