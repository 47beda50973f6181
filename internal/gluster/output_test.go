package gluster

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/glusterbus/glusterbus/bench/xmlgen"
	"github.com/glusterbus/glusterbus/internal/digest"
)

// wholeReads reads all volumes and all bricks' status with cli.
func wholeReads(cli *CLI) (vols []Volume, st []BrickStatus, infoErr, statusErr error) {
	ctx := context.Background()
	vols, infoErr = cli.VolumeInfo(ctx, "")
	st, statusErr = cli.VolumeStatusDetail(ctx, "all")
	return vols, st, infoErr, statusErr
}

// The output parsed from the command's file and the output read into
// memory give the same results and the same errors, for every captured
// output and what the CLI may print around it.
func TestWholeReadFromFileAsFromMemory(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "*.xml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no testdata: %v", err)
	}
	for _, file := range files {
		for name, data := range variants(readFile(file)) {
			cli, _ := fakeGluster(t, string(data), "", 0)
			vols, st, infoErr, statusErr := wholeReads(&CLI{Command: cli.Command, fileFrom: 1 << 40})
			fVols, fSt, fInfoErr, fStatusErr := wholeReads(&CLI{Command: cli.Command, fileFrom: 1})
			if !reflect.DeepEqual(fVols, vols) || errorText(fInfoErr) != errorText(infoErr) {
				t.Errorf("%s, %s: volume info from the file: %v; from memory: %v", file, name, fInfoErr, infoErr)
			}
			if !reflect.DeepEqual(fSt, st) || errorText(fStatusErr) != errorText(statusErr) {
				t.Errorf("%s, %s: volume status from the file: %v; from memory: %v", file, name, fStatusErr, statusErr)
			}
		}
	}
}

// scanOutput finds the document trimToXML would, whatever the chunks the
// markers and blanks fall in, and the digest of the whole output.
func TestScanOutputCutsAsTrimToXML(t *testing.T) {
	doc := string(readTestdata(t, "volume-info-all.xml"))
	noDecl := doc[strings.Index(doc, "?>")+2:]
	stopped := string(readTestdata(t, "r3.4-volume-status-all-detail-stopped-volume.xml"))
	var outputs []string
	for _, shift := range []int{0, 1, 4, 5, 9, 10, 11} {
		pad := readBuffer - shift
		outputs = append(outputs,
			strings.Repeat("w", pad)+"\n"+doc,
			strings.Repeat("w", pad)+noDecl,
			strings.Repeat(" ", pad)+noDecl,
			strings.Repeat("\n", pad-1)+"\u00a0"+doc,
			strings.Repeat("\u00a0", pad/2)+doc+strings.Repeat("\u00a0", pad/2),
			strings.Repeat("w", pad)+stopped+doc,
			doc+strings.Repeat(" ", pad)+"\u0085"+strings.Repeat("\n", readBuffer),
			doc+strings.Repeat("\n", pad)+"\xc2",
			stopped+strings.Repeat(" ", pad)+doc,
		)
	}
	outputs = append(outputs, doc, noDecl, "x<cliOutput", "<cliOutput", " <?xml<cliOutput<cliOutput ", "\xa0\xa0<cliOutput/>\xc2\xa0")
	for i, out := range outputs {
		got, err := scanOutput(strings.NewReader(out), int64(len(out)))
		if err != nil {
			t.Fatalf("output %d: %v", i, err)
		}
		if got.digest != digest.Of([]byte(out)) {
			t.Errorf("output %d: wrong digest", i)
		}
		if got.doc == nil {
			t.Errorf("output %d: no document", i)
			continue
		}
		if cut, _ := io.ReadAll(got.doc); string(cut) != string(trimToXML([]byte(out))) {
			t.Errorf("output %d: document at %d of %d bytes, want %d bytes", i, len(out)-len(cut), len(cut), len(trimToXML([]byte(out))))
		}
	}
	got, err := scanOutput(strings.NewReader("no document"), 11)
	if err != nil || got.doc != nil {
		t.Errorf("output without a document: %v, %v", got.doc, err)
	}
}

// largeInfo is `volume info all` of n volumes, more than a MiB for 500 and
// more.
func largeInfo(t *testing.T, n int) (info, status []byte) {
	t.Helper()
	tpl, err := xmlgen.Load("testdata")
	if err != nil {
		t.Fatal(err)
	}
	vols := xmlgen.Volumes(n, n)
	return tpl.VolumeInfo(vols), tpl.VolumeStatusDetail(vols)
}

// A large output is parsed from the file, and the same output again is
// not parsed again.
func TestWholeReadLargeOutput(t *testing.T) {
	info, status := largeInfo(t, 1000)
	if len(info) < largeOutput || len(status) < largeOutput {
		t.Fatalf("outputs of %d and %d bytes are not large", len(info), len(status))
	}
	for name, out := range map[string][]byte{
		"as is":          info,
		"warning before": append([]byte("Warning: something\n"), info...),
	} {
		cli, _ := fakeGluster(t, string(out), "", 0)
		f, err := newMemfd()
		if err != nil {
			t.Skip("no memfd:", err)
		}
		argv, op, _ := cli.command([]string{"volume", "info", "all", "--xml"}, true)
		fo, err := runToFile(context.Background(), argv, op, f, largeOutput)
		if err != nil || fo.doc == nil || fo.data != nil {
			t.Fatalf("%s: not kept in the file: %v", name, err)
		}
		f.Close()

		want, err := ParseVolumeInfo(out)
		if err != nil || len(want) != 1000 {
			t.Fatalf("%s: %d volumes, %v", name, len(want), err)
		}
		a, err := cli.VolumeInfo(context.Background(), "all")
		if err != nil || !reflect.DeepEqual(a, want) {
			t.Fatalf("%s: %d volumes, %v", name, len(a), err)
		}
		b, err := cli.VolumeInfo(context.Background(), "all")
		if err != nil || &b[0] != &a[0] {
			t.Errorf("%s: the same output was parsed again (%v)", name, err)
		}
	}

	// `volume status all` before 3.5: a document for a volume that is not
	// started before the one of all others.
	out := append(readTestdata(t, "r3.4-volume-status-all-detail-stopped-volume.xml"), status...)
	cli, _ := fakeGluster(t, string(out), "", 0)
	want, err := ParseVolumeStatusDetail(status)
	if err != nil || len(want) != 3000 {
		t.Fatalf("%d bricks, %v", len(want), err)
	}
	got, err := cli.VolumeStatusDetail(context.Background(), "")
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Errorf("several documents: %d bricks, %v", len(got), err)
	}
}

// A failure with a large output still says what gluster said.
func TestWholeReadLargeFailure(t *testing.T) {
	info, _ := largeInfo(t, 1000)
	failed := bytes.Replace(info, []byte("<opRet>0</opRet>"), []byte("<opRet>-1</opRet>"), 1)
	withMsg := bytes.Replace(failed, []byte("<opErrstr/>"), []byte("<opErrstr>Locking failed on node3</opErrstr>"), 1)
	if bytes.Equal(failed, info) || bytes.Equal(withMsg, failed) {
		t.Fatal("the output has no <opRet>0</opRet> or <opErrstr/>")
	}
	for _, tc := range []struct {
		name   string
		out    []byte
		stderr string
		code   int
		want   CLIError
	}{
		{"exit 0", withMsg, "", 0, CLIError{Op: "volume info all", OpRet: -1, Message: "Locking failed on node3"}},
		{"exit 1", withMsg, "", 1, CLIError{Op: "volume info all", ExitCode: 1, OpRet: -1, Message: "Locking failed on node3"}},
		{"message on stderr", failed, "Another transaction is in progress\n", 0, CLIError{Op: "volume info all", OpRet: -1, Message: "Another transaction is in progress"}},
		{"exit 2, opRet 0", info, "Connection failed\n", 2, CLIError{Op: "volume info all", ExitCode: 2, Message: "Connection failed"}},
	} {
		cli, _ := fakeGluster(t, string(tc.out), tc.stderr, tc.code)
		_, err := cli.VolumeInfo(context.Background(), "")
		var ce *CLIError
		if !errors.As(err, &ce) || *ce != tc.want {
			t.Errorf("%s: %v, want %+v", tc.name, err, tc.want)
		}
	}

	cli, _ := fakeGluster(t, string(info[:len(info)/2]), "", 0)
	if _, err := cli.VolumeInfo(context.Background(), ""); err == nil || !strings.Contains(err.Error(), "invalid XML output") {
		t.Errorf("truncated output: %v", err)
	}
}

// Without memfd_create, whole-cluster reads go through memory.
func TestWholeReadWithoutMemfd(t *testing.T) {
	defer func(f func(string, int) (int, error)) { memfdCreate = f }(memfdCreate)
	memfdCreate = func(string, int) (int, error) { return -1, unix.ENOSYS }
	info, _ := largeInfo(t, 600)
	cli, _ := fakeGluster(t, string(info), "", 0)
	a, err := cli.VolumeInfo(context.Background(), "")
	if err != nil || len(a) != 600 {
		t.Fatalf("%d volumes, %v", len(a), err)
	}
	if b, err := cli.VolumeInfo(context.Background(), ""); err != nil || &b[0] != &a[0] {
		t.Errorf("the same output was parsed again (%v)", err)
	}
}

func TestWholeReadKilled(t *testing.T) {
	dir := t.TempDir()
	script := filepath.Join(dir, "gluster")
	if err := os.WriteFile(script, []byte("#!/bin/sh\nhead -c 2000000 /dev/zero\nsleep 120\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	cli := &CLI{Command: []string{script}, Timeout: 200 * time.Millisecond}
	start := time.Now()
	_, err := cli.VolumeInfo(context.Background(), "")
	if err == nil || !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "volume info all: killed after timeout") {
		t.Errorf("error %v", err)
	}
	// Not left to run its two minutes, whatever the load.
	if d := time.Since(start); d > time.Minute {
		t.Errorf("killed after %v", d)
	}
}
