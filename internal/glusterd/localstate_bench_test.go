package glusterd

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

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
