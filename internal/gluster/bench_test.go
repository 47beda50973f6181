package gluster

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/glusterbus/glusterbus/bench/xmlgen"
)

// The outputs of a cluster of n volumes of 3 bricks, all started, made from
// the captures in testdata.
func benchOutputs(b *testing.B, n int) (info, status []byte) {
	b.Helper()
	t, err := xmlgen.Load("testdata")
	if err != nil {
		b.Fatal(err)
	}
	vols := xmlgen.Volumes(n, n)
	return t.VolumeInfo(vols), t.VolumeStatusDetail(vols)
}

var benchSizes = []int{1, 500, 5000}

func BenchmarkParseVolumeInfo(b *testing.B) {
	for _, n := range benchSizes {
		info, _ := benchOutputs(b, n)
		b.Run(fmt.Sprintf("volumes=%d", n), func(b *testing.B) {
			b.SetBytes(int64(len(info)))
			b.ReportAllocs()
			for b.Loop() {
				vols, err := ParseVolumeInfo(info)
				if err != nil || len(vols) != n {
					b.Fatalf("%d volumes, %v", len(vols), err)
				}
			}
		})
	}
}

func BenchmarkParseVolumeStatusDetail(b *testing.B) {
	for _, n := range benchSizes {
		_, status := benchOutputs(b, n)
		b.Run(fmt.Sprintf("volumes=%d", n), func(b *testing.B) {
			b.SetBytes(int64(len(status)))
			b.ReportAllocs()
			for b.Loop() {
				bricks, err := ParseVolumeStatusDetail(status)
				if err != nil || len(bricks) != 3*n {
					b.Fatalf("%d bricks, %v", len(bricks), err)
				}
			}
		})
	}
}

// BenchmarkCheckOutput is the check CLI.Run makes of every output before
// the parser sees it.
func BenchmarkCheckOutput(b *testing.B) {
	info, status := benchOutputs(b, 5000)
	for _, doc := range []struct {
		name string
		data []byte
	}{{"volume-info/volumes=5000", info}, {"volume-status-detail/volumes=5000", status}} {
		b.Run(doc.name, func(b *testing.B) {
			b.SetBytes(int64(len(doc.data)))
			b.ReportAllocs()
			for b.Loop() {
				if err := CheckOutput(doc.data); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkRunLargeOutput reads a command's output of 32 MB, as large as
// `volume info all` prints at about 5 000 volumes: after the first run the
// buffer is made at the last output's size instead of grown by doubling.
func BenchmarkRunLargeOutput(b *testing.B) {
	argv := []string{"head", "-c", "32000000", "/dev/zero"}
	ctx := context.Background()
	if _, err := run(ctx, argv, "large output"); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := run(ctx, argv, "large output"); err != nil {
			b.Fatal(err)
		}
	}
}

// getStateDump is a get-state dump of n volumes: the capture's replica
// volume, this node's brick and the other node's, under n names.
func getStateDump(b *testing.B, n int) []byte {
	b.Helper()
	capture, err := os.ReadFile("testdata/get-state-10.3-detail.txt")
	if err != nil {
		b.Fatal(err)
	}
	text := string(capture)
	head, rest, _ := strings.Cut(text, "[Volumes]\n")
	vol := rest[strings.Index(rest, "Volume2."):]
	vol = vol[:strings.Index(vol, "\n\n")+2]
	_, tail, _ := strings.Cut(rest, "[Services]")
	var out strings.Builder
	out.WriteString(head + "[Volumes]\n")
	for i := range n {
		v := strings.ReplaceAll(vol, "Volume2.", fmt.Sprintf("Volume%d.", i+1))
		v = strings.ReplaceAll(v, "bricks/rv", fmt.Sprintf("bricks/vol%05d", i))
		out.WriteString(strings.Replace(v, "name: rv", fmt.Sprintf("name: vol%05d", i), 1))
	}
	out.WriteString("[Services]" + tail)
	return []byte(out.String())
}

func BenchmarkReadGetState(b *testing.B) {
	for _, n := range benchSizes {
		dump := getStateDump(b, n)
		b.Run(fmt.Sprintf("volumes=%d", n), func(b *testing.B) {
			b.SetBytes(int64(len(dump)))
			b.ReportAllocs()
			for b.Loop() {
				st, err := ReadGetState(bytes.NewReader(dump))
				if err != nil || len(st.Volumes) != n || len(st.Bricks) != n {
					b.Fatalf("%d volumes, %d local bricks, %v", len(st.Volumes), len(st.Bricks), err)
				}
			}
		})
	}
}

// BenchmarkWholeVolumeInfo reads `volume info all` of 5000 volumes from a
// command, through a buffer in memory and through the file the command
// writes, when the output changed since the last read (parsed) and when
// it did not (only hashed).
func BenchmarkWholeVolumeInfo(b *testing.B) {
	info, _ := benchOutputs(b, 5000)
	dir := b.TempDir()
	out := filepath.Join(dir, "out.xml")
	script := filepath.Join(dir, "gluster")
	if err := os.WriteFile(out, info, 0o644); err != nil {
		b.Fatal(err)
	}
	if err := os.WriteFile(script, []byte("#!/bin/sh\nexec cat "+out+"\n"), 0o755); err != nil {
		b.Fatal(err)
	}
	for _, via := range []struct {
		name string
		from int64
	}{{"memory", 1 << 40}, {"file", 0}} {
		for _, changed := range []bool{true, false} {
			b.Run(fmt.Sprintf("via=%s/changed=%t", via.name, changed), func(b *testing.B) {
				cli := &CLI{Command: []string{script}, fileFrom: via.from}
				if !changed {
					if _, err := cli.VolumeInfo(context.Background(), ""); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportAllocs()
				for b.Loop() {
					if changed {
						cli.infoAll = memo[Volume]{}
					}
					vols, err := cli.VolumeInfo(context.Background(), "")
					if err != nil || len(vols) != 5000 {
						b.Fatalf("%d volumes, %v", len(vols), err)
					}
				}
			})
		}
	}
}
