package journal

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// crashChildEnv, when set, turns TestCrashSafety into the child process: it
// names the journal file to append to until killed.
const crashChildEnv = "GLUSTERBUS_JOURNAL_CRASH_CHILD"

// crashChild appends events from several goroutines forever, printing
// "ACK <seq> <tag>" for every sequence number Append acknowledged.
func crashChild(path, round string) {
	j, err := Open(path, Options{Logger: quietLogger()})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	for w := range 8 {
		go func() {
			for i := 0; ; i++ {
				n := 1 + i%3
				evs := make([]Event, n)
				for k := range evs {
					evs[k] = crashEvent(fmt.Sprintf("%s-%d-%d-%d", round, w, i, k))
				}
				seqs, err := j.Append(context.Background(), evs...)
				if err != nil {
					fmt.Fprintln(os.Stderr, err)
					os.Exit(3)
				}
				var b strings.Builder
				for k, s := range seqs {
					fmt.Fprintf(&b, "ACK %d %s\n", s, evs[k].Node)
				}
				os.Stdout.WriteString(b.String()) // one write: lines never interleave
			}
		}()
	}
	select {}
}

func crashEvent(tag string) Event {
	return Event{
		Node:   tag,
		Name:   "BRICK_OFFLINE",
		Source: "native",
		Fields: []Field{{"tag", tag}, {"pad", strings.Repeat("x", len(tag)*7)}},
	}
}

func TestCrashSafety(t *testing.T) {
	if path := os.Getenv(crashChildEnv); path != "" {
		crashChild(path, os.Getenv(crashChildEnv+"_ROUND"))
		return
	}
	rounds := 8
	if testing.Short() {
		rounds = 3
	}
	path := filepath.Join(t.TempDir(), "journal.db")
	acked := map[uint64]string{} // every seq ever acknowledged, with its tag
	var maxAcked, maxStored uint64

	for round := range rounds {
		cmd := exec.Command(os.Args[0], "-test.run=^TestCrashSafety$")
		cmd.Env = append(os.Environ(), crashChildEnv+"="+path, fmt.Sprintf("%s_ROUND=%d", crashChildEnv, round))
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}

		var (
			mu        sync.Mutex
			roundAcks = map[uint64]string{}
			firstAck  = make(chan struct{})
			readDone  = make(chan struct{})
		)
		go func() {
			defer close(readDone)
			r := bufio.NewReader(out)
			for {
				line, err := r.ReadString('\n')
				if err != nil {
					return // a line cut short by the kill was never acknowledged
				}
				var seq uint64
				var tag string
				if _, err := fmt.Sscanf(line, "ACK %d %s\n", &seq, &tag); err != nil {
					continue
				}
				mu.Lock()
				if len(roundAcks) == 0 {
					close(firstAck)
				}
				if prev, dup := roundAcks[seq]; dup {
					t.Errorf("round %d: seq %d acknowledged twice (%s, %s)", round, seq, prev, tag)
				}
				roundAcks[seq] = tag
				mu.Unlock()
			}
		}()

		select {
		case <-firstAck:
		case <-time.After(30 * time.Second):
			cmd.Process.Kill()
			cmd.Wait()
			t.Fatalf("round %d: child acknowledged nothing; stderr:\n%s", round, stderr.String())
		}
		time.Sleep(time.Duration(rand.IntN(200)) * time.Millisecond)
		if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		<-readDone
		cmd.Wait()
		if strings.TrimSpace(stderr.String()) != "" {
			t.Fatalf("round %d: child stderr:\n%s", round, stderr.String())
		}

		floor := max(maxStored, maxAcked) // reached by earlier rounds
		for seq, tag := range roundAcks {
			if seq <= floor {
				t.Fatalf("round %d: seq %d (%s) reused: earlier rounds reached %d stored, %d acknowledged",
					round, seq, tag, maxStored, maxAcked)
			}
			acked[seq] = tag
			maxAcked = max(maxAcked, seq)
		}

		j, err := Open(path, Options{Logger: quietLogger()})
		if err != nil {
			t.Fatalf("round %d: reopen: %v", round, err)
		}
		first, last := j.FirstSeq(), j.LastSeq()
		if first != 1 || last < maxAcked {
			j.Close()
			t.Fatalf("round %d: stored %d..%d, acknowledged up to %d", round, first, last, maxAcked)
		}
		evs, err := j.Range(0, int(last)+1)
		j.Close()
		if err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
		if uint64(len(evs)) != last {
			t.Fatalf("round %d: %d events stored for seqs 1..%d", round, len(evs), last)
		}
		for i, e := range evs {
			if e.Seq != uint64(i)+1 {
				t.Fatalf("round %d: gap: event %d has seq %d", round, i+1, e.Seq)
			}
			if tag, ok := acked[e.Seq]; ok && (e.Node != tag || e.Fields[0].Value != tag) {
				t.Fatalf("round %d: seq %d acknowledged as %s, stored as %+v", round, e.Seq, tag, e)
			}
		}
		maxStored = last
		t.Logf("round %d: %d acknowledged, %d stored", round, len(roundAcks), last)
	}
}
