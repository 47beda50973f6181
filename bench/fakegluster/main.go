// Command fakegluster stands in for the gluster CLI in scale benchmarks, and
// only there: it replays XML for N volumes of 3 bricks made from the
// outputs captured from a real GlusterFS 10.3 cluster
// (internal/gluster/testdata, see bench/xmlgen).
//
//	fakegluster gen -n 5000 [-started N] [-testdata DIR] -out DIR
//	    writes the outputs into DIR (a temporary directory, never checked in)
//	fakegluster -dir DIR <gluster arguments>
//	    answers what glusterbus asks, from DIR
//
// It answers `volume info [all|VOL] --xml`, `volume status [all|VOL]
// detail --xml`, `peer status --xml`, `pool list --xml`, `volume get all
// cluster.op-version --xml`, `system:: uuid get`, `system:: getwd` and
// `--version`. Options gluster takes (--mode=script, --glusterd-sock=...,
// --log-file=..., --xml) are accepted and ignored. N may also come from
// FAKEGLUSTER_VOLUMES and DIR from FAKEGLUSTER_DIR.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/glusterbus/glusterbus/bench/xmlgen"
)

func main() {
	if len(os.Args) > 1 && os.Args[1] == "gen" {
		if err := gen(os.Args[2:]); err != nil {
			fmt.Fprintln(os.Stderr, "fakegluster gen:", err)
			os.Exit(2)
		}
		return
	}
	os.Exit(replay(os.Args[1:]))
}

func gen(args []string) error {
	fs := flag.NewFlagSet("gen", flag.ContinueOnError)
	n := fs.Int("n", envInt("FAKEGLUSTER_VOLUMES", 5000), "volumes of 3 bricks")
	started := fs.Int("started", -1, "how many of them are started (default: all)")
	testdata := fs.String("testdata", "internal/gluster/testdata", "the captured outputs")
	out := fs.String("out", os.Getenv("FAKEGLUSTER_DIR"), "directory to write")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *out == "" {
		return errors.New("-out is required")
	}
	if *started < 0 {
		*started = *n
	}
	t, err := xmlgen.Load(*testdata)
	if err != nil {
		return err
	}
	vols := xmlgen.Volumes(*n, *started)
	for _, d := range []string{"vols", "workdir/vols", "workdir/peers"} {
		if err := os.MkdirAll(filepath.Join(*out, d), 0o755); err != nil {
			return err
		}
	}
	files := map[string][]byte{
		"volume-info-all.xml":                    t.VolumeInfo(vols),
		"volume-status-all-detail.xml":           t.VolumeStatusDetail(vols),
		"peer-status.xml":                        t.PeerStatus,
		"pool-list.xml":                          t.PoolList,
		"op-version.xml":                         t.OpVersion,
		"version.txt":                            t.Version,
		"uuid-get.txt":                           t.UUID,
		"error-volume-info-missing.xml":          t.InfoMissing,
		"error-volume-status-stopped-detail.xml": t.StatusNotStarted,
		"error-volume-status-missing-detail.xml": t.StatusMissing,
	}
	for _, v := range vols {
		one := []xmlgen.Volume{v}
		files["vols/"+v.Name+".info.xml"] = t.VolumeInfo(one)
		if v.Started {
			files["vols/"+v.Name+".status.xml"] = t.VolumeStatusDetail(one)
		}
	}
	for name, data := range files {
		if err := os.WriteFile(filepath.Join(*out, name), data, 0o644); err != nil {
			return err
		}
	}
	fmt.Printf("%d volumes (%d started), %d bricks: volume info all %d bytes, volume status all detail %d bytes\n",
		*n, *started, 3**n, len(files["volume-info-all.xml"]), len(files["volume-status-all-detail.xml"]))
	return nil
}

func replay(args []string) int {
	dir := os.Getenv("FAKEGLUSTER_DIR")
	var words []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case a == "-dir" || a == "--dir":
			if i+1 < len(args) {
				dir = args[i+1]
				i++
			}
		case strings.HasPrefix(a, "-dir=") || strings.HasPrefix(a, "--dir="):
			dir = a[strings.IndexByte(a, '=')+1:]
		case a == "--version":
			words = append(words, a)
		case strings.HasPrefix(a, "--"):
			// --xml, --mode=script, --glusterd-sock=..., --log-file=...
		default:
			words = append(words, a)
		}
	}
	if dir == "" {
		fmt.Fprintln(os.Stderr, "fakegluster: no -dir and no FAKEGLUSTER_DIR")
		return 2
	}
	file, text := answer(dir, words)
	if text != "" {
		fmt.Print(text)
		return 0
	}
	if file == "" {
		fmt.Fprintf(os.Stderr, "fakegluster: unsupported command: %s\n", strings.Join(words, " "))
		return 1
	}
	f, err := os.Open(filepath.Join(dir, file))
	if err != nil {
		fmt.Fprintln(os.Stderr, "fakegluster:", err)
		return 1
	}
	defer f.Close()
	if _, err := io.Copy(os.Stdout, f); err != nil {
		fmt.Fprintln(os.Stderr, "fakegluster:", err)
		return 1
	}
	return 0
}

// answer names the file that answers the command, or gives its text.
func answer(dir string, w []string) (file, text string) {
	is := func(want ...string) bool {
		if len(w) != len(want) {
			return false
		}
		for i := range want {
			if want[i] != "*" && w[i] != want[i] {
				return false
			}
		}
		return true
	}
	exists := func(name string) bool {
		_, err := os.Stat(filepath.Join(dir, name))
		return err == nil
	}
	switch {
	case is("--version"):
		return "version.txt", ""
	case is("system::", "getwd"):
		return "", filepath.Join(dir, "workdir") + "\n"
	case is("system::", "uuid", "get"):
		return "uuid-get.txt", ""
	case is("peer", "status"):
		return "peer-status.xml", ""
	case is("pool", "list"):
		return "pool-list.xml", ""
	case is("volume", "get", "all", "cluster.op-version"):
		return "op-version.xml", ""
	case is("volume", "info"), is("volume", "info", "all"):
		return "volume-info-all.xml", ""
	case is("volume", "info", "*"):
		if exists("vols/" + w[2] + ".info.xml") {
			return "vols/" + w[2] + ".info.xml", ""
		}
		return "error-volume-info-missing.xml", ""
	case is("volume", "status", "all", "detail"):
		return "volume-status-all-detail.xml", ""
	case is("volume", "status", "*", "detail"):
		switch {
		case exists("vols/" + w[2] + ".status.xml"):
			return "vols/" + w[2] + ".status.xml", ""
		case exists("vols/" + w[2] + ".info.xml"):
			return "error-volume-status-stopped-detail.xml", ""
		}
		return "error-volume-status-missing-detail.xml", ""
	}
	return "", ""
}

func envInt(name string, def int) int {
	if n, err := strconv.Atoi(os.Getenv(name)); err == nil && n > 0 {
		return n
	}
	return def
}
