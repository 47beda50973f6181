package glusterd

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/glusterbus/glusterbus/internal/gluster"
)

// volumeReplies are GET_VOLUME reply records about n volumes of 3 bricks
// each (the captured volume under new names), by name.
func volumeReplies(t testing.TB, n int) (names []string, replies map[string][]byte) {
	tuned := cliDict(t, "volume-tuned.rec")
	names = make([]string, n)
	replies = map[string][]byte{}
	for i := range names {
		names[i] = fmt.Sprintf("vol%05d", i)
		d := Dict{}
		for k, v := range tuned {
			d[k] = v
		}
		d["volume0.name"] = names[i]
		d["volume0.brick_count"] = "3"
		d["volume0.replica_count"] = "3"
		d["volume0.dist_count"] = "3"
		for j := 1; j <= 3; j++ {
			d[fmt.Sprintf("volume0.brick%d", j)] = fmt.Sprintf("127.1.1.%d:/srv/n%d/bricks/%s", j, j, names[i])
			d[fmt.Sprintf("volume0.brick%d.uuid", j)] = fmt.Sprintf("%08x-0000-4000-8000-00000000000%d", j, j)
		}
		replies[names[i]] = cliReply(d)
	}
	return names, replies
}

// bigStateDump is the captured get-state dump with its one volume repeated
// under n names: about 2 KiB per volume, this node's brick of each started.
func bigStateDump(t testing.TB, n int) []byte {
	t.Helper()
	dump := readTestdata(t, "get-state.txt")
	head, rest, _ := bytes.Cut(dump, []byte("[Volumes]\n"))
	vol, tail, _ := bytes.Cut(rest, []byte("\n\n"))
	var b bytes.Buffer
	b.Write(head)
	b.WriteString("[Volumes]\n")
	for i := 1; i <= n; i++ {
		v := bytes.ReplaceAll(vol, []byte("Volume1."), fmt.Appendf(nil, "Volume%d.", i))
		v = bytes.Replace(v, []byte(".name: rep\n"), fmt.Appendf(nil, ".name: rep%05d\n", i), 1)
		b.Write(v)
		b.WriteString("\n\n")
	}
	b.Write(tail)
	return b.Bytes()
}

// BenchmarkLocalStateFromSocket reads this node's state of 5000 volumes
// over the socket from a glusterd in this process, which writes the same
// dump (about 10 MB) every time: unchanged, as on a quiet cluster, or
// parsed every time.
func BenchmarkLocalStateFromSocket(b *testing.B) {
	const n = 5000
	dump := bigStateDump(b, n)
	getState := readTestdata(b, "get-state.rec")
	srv := newShuffler(b, func(proc uint32, args Dict) []byte {
		if proc != procGetState {
			return refusedReply(3)
		}
		if err := os.WriteFile(filepath.Join(args["odir"], args["filename"]), dump, 0o600); err != nil {
			b.Error(err)
		}
		return getState
	})
	ctx := context.Background()
	for _, way := range []struct {
		name   string
		forget bool
	}{{"unchanged", false}, {"all-parsed", true}} {
		b.Run(fmt.Sprintf("%s/volumes=%d", way.name, n), func(b *testing.B) {
			c := &Client{Socket: srv.sock}
			defer c.Close()
			if _, err := c.LocalState(ctx); err != nil {
				b.Fatal(err)
			}
			b.SetBytes(int64(len(dump)))
			b.ReportAllocs()
			for b.Loop() {
				if way.forget {
					c.mu.Lock()
					c.state = nil
					c.mu.Unlock()
				}
				st, err := c.LocalState(ctx)
				if err != nil {
					b.Fatal(err)
				}
				if len(st.Volumes) != n || len(st.Bricks) != n {
					b.Fatalf("%d volumes, %d bricks, %v", len(st.Volumes), len(st.Bricks), err)
				}
			}
		})
	}
}

// BenchmarkUnchangedReadWork is this client's own work on a read of 5000
// volumes that did not change, with no glusterd in the process to share the
// CPU with: every GET_VOLUME answer handed to volumeAnswer as the pipeline
// hands it, and the get-state dump (about 10 MB, linked where glusterd
// writes it) read as LocalState reads it.
func BenchmarkUnchangedReadWork(b *testing.B) {
	const n = 5000
	b.Run(fmt.Sprintf("volume-answers/volumes=%d", n), func(b *testing.B) {
		names, replies := volumeReplies(b, n)
		results := make([][]byte, n)
		for i, name := range names {
			results[i] = decodeRecord(b, replies[name])
		}
		c := &Client{}
		read := func() {
			for i, name := range names {
				if _, err := c.volumeAnswer(name, results[i], nil); err != nil {
					b.Fatal(err)
				}
			}
		}
		read()
		b.ReportAllocs()
		for b.Loop() {
			read()
		}
	})
	b.Run(fmt.Sprintf("get-state/volumes=%d", n), func(b *testing.B) {
		dump := filepath.Join(b.TempDir(), "state")
		if err := os.WriteFile(dump, bigStateDump(b, n), 0o600); err != nil {
			b.Fatal(err)
		}
		link := func(dir, file string) error { return os.Link(dump, filepath.Join(dir, file)) }
		c := &Client{}
		read := func() {
			st, err := gluster.DumpLocalStateWith(link, c.readState)
			if err != nil || len(st.Bricks) != n {
				b.Fatalf("%v", err)
			}
		}
		read()
		b.ReportAllocs()
		for b.Loop() {
			read()
		}
	})
}
