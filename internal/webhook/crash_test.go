package webhook

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/glusterbus/glusterbus/internal/journal"
)

// crashChildEnv, when set, makes TestCrashDelivery the child process: it
// names the directory with the journal and the webhooks file, and the child
// delivers until it is killed.
const crashChildEnv = "GLUSTERBUS_WEBHOOK_CRASH_CHILD"

// crashCursorEvery is the children's Options.CursorEvery: what a crash may
// send again.
const crashCursorEvery = 20

func crashChild(dir string) {
	j, err := journal.Open(filepath.Join(dir, "journal.db"), journal.Options{MaxAge: 100 * 365 * 24 * time.Hour, Logger: quietLogger()})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	d, err := New(Options{
		Journal:        j,
		File:           filepath.Join(dir, "webhooks.json"),
		Logger:         quietLogger(),
		MinBackoff:     5 * time.Millisecond,
		MaxBackoff:     50 * time.Millisecond,
		CursorEvery:    crashCursorEvery,
		CursorInterval: time.Hour, // only the count: the bound below is exact
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	d.Run(context.Background())
	os.Exit(3)
}

// TestCrashDelivery kills (SIGKILL) a process delivering to a receiver
// again and again, restarting it each time: the receiver gets every event
// at least once and in order, and the only duplicates are the events after
// the last stored cursor, re-sent right after a restart.
func TestCrashDelivery(t *testing.T) {
	if dir := os.Getenv(crashChildEnv); dir != "" {
		crashChild(dir)
		return
	}
	n := 4000
	if testing.Short() {
		n = 1000
	}
	dir := t.TempDir()

	type arrival struct {
		run int
		seq uint64
	}
	var mu sync.Mutex
	var got []arrival
	run := 0
	rc := newReceiver(t, func(r *request, _ http.ResponseWriter, _ *http.Request) int {
		mu.Lock()
		got = append(got, arrival{run, r.seq})
		mu.Unlock()
		time.Sleep(200 * time.Microsecond) // so that kills land mid-request too
		return http.StatusOK
	})
	rc.light = true
	received := func() (int, uint64) {
		mu.Lock()
		defer mu.Unlock()
		var top uint64
		for _, a := range got {
			top = max(top, a.seq)
		}
		return len(got), top
	}

	j, err := journal.Open(filepath.Join(dir, "journal.db"), journal.Options{MaxAge: 100 * 365 * 24 * time.Hour, Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	appendEvents(t, j, n)
	addWebhook(t, filepath.Join(dir, "webhooks.json"), Webhook{URL: rc.URL()})
	// An existing webhook, delivering from the start.
	if err := j.SetCursor(CursorName(rc.URL()), 0); err != nil {
		t.Fatal(err)
	}
	if err := j.Close(); err != nil {
		t.Fatal(err)
	}

	rng := rand.New(rand.NewPCG(5, 6))
	kills := 0
	for round := 0; ; round++ {
		if round > 100 {
			t.Fatalf("still not done after %d rounds", round)
		}
		mu.Lock()
		run = round
		mu.Unlock()
		cmd := exec.Command(os.Args[0], "-test.run=^TestCrashDelivery$")
		cmd.Env = append(os.Environ(), crashChildEnv+"="+dir)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		count, _ := received()
		target := count + n/40 + rng.IntN(n/10)
		deadline := time.Now().Add(30 * time.Second)
		done := false
		for {
			c, top := received()
			if top == uint64(n) {
				done = true
				break
			}
			if c >= target {
				break
			}
			if time.Now().After(deadline) {
				cmd.Process.Kill()
				cmd.Wait()
				t.Fatalf("round %d: no progress (%d received); child: %s", round, c, stderr.String())
			}
			time.Sleep(time.Duration(rng.IntN(3000)) * time.Microsecond)
		}
		if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		err := cmd.Wait()
		if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() {
			t.Fatalf("round %d: child ended by itself: %v: %s", round, err, stderr.String())
		}
		if done {
			break
		}
		kills++
	}

	// Every event at least once; within a run, in order; a run starts at
	// most crashCursorEvery events back and never skips ahead.
	mu.Lock()
	defer mu.Unlock()
	seen := make([]bool, n+1)
	var top uint64
	dups := 0
	for i, a := range got {
		if i == 0 || a.run != got[i-1].run {
			if a.seq > top+1 {
				t.Fatalf("run %d starts at %d after %d: events skipped", a.run, a.seq, top)
			}
			if top >= a.seq && top-a.seq+1 > crashCursorEvery+1 {
				t.Errorf("run %d starts at %d after %d was received: more than %d sent again", a.run, a.seq, top, crashCursorEvery+1)
			}
		} else if a.seq != got[i-1].seq+1 {
			t.Fatalf("run %d: %d after %d", a.run, a.seq, got[i-1].seq)
		}
		if seen[a.seq] {
			dups++
		}
		seen[a.seq] = true
		top = max(top, a.seq)
	}
	for s := 1; s <= n; s++ {
		if !seen[s] {
			t.Errorf("event %d never arrived", s)
		}
	}
	t.Logf("%d events, %d kills, %d sent twice", n, kills, dups)
	if kills < 3 {
		t.Errorf("only %d kills", kills)
	}
}
