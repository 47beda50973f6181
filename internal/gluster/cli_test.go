package gluster

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// fakeGluster writes a script that records its arguments in args.txt,
// prints stdout and stderr and exits with code; it returns a CLI running it
// and the path of args.txt.
func fakeGluster(t *testing.T, stdout, stderr string, code int) (*CLI, string) {
	t.Helper()
	dir := t.TempDir()
	for name, data := range map[string]string{"stdout": stdout, "stderr": stderr} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	args := filepath.Join(dir, "args.txt")
	script := "#!/bin/sh\nfor a; do echo \"$a\"; done > " + args + "\ncat " + dir + "/stdout\ncat " + dir + "/stderr >&2\nexit " +
		string(rune('0'+code)) + "\n"
	path := filepath.Join(dir, "gluster")
	if err := os.WriteFile(path, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return &CLI{Command: []string{path, "--glusterd-sock=/x/gd.sock"}}, args
}

func readArgs(t *testing.T, file string) []string {
	t.Helper()
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	return strings.Split(strings.TrimSuffix(string(data), "\n"), "\n")
}

func TestCLIArguments(t *testing.T) {
	cli, args := fakeGluster(t, string(readTestdata(t, "volume-info-arb.xml")), "", 0)
	vols, err := cli.VolumeInfo(context.Background(), "arb")
	if err != nil || len(vols) != 1 || vols[0].Name != "arb" {
		t.Fatalf("= %+v, %v", vols, err)
	}
	want := []string{"--glusterd-sock=/x/gd.sock", "volume", "info", "arb", "--xml", "--mode=script"}
	if got := readArgs(t, args); !reflect.DeepEqual(got, want) {
		t.Errorf("args %q, want %q", got, want)
	}

	cli, args = fakeGluster(t, string(readTestdata(t, "volume-status-all-detail.xml")), "", 0)
	cli.Command = append(cli.Command, "--mode=script")
	if _, err := cli.VolumeStatusDetail(context.Background(), ""); err != nil {
		t.Fatal(err)
	}
	want = []string{"--glusterd-sock=/x/gd.sock", "--mode=script", "volume", "status", "all", "detail", "--xml"}
	if got := readArgs(t, args); !reflect.DeepEqual(got, want) {
		t.Errorf("args %q, want %q", got, want)
	}

	cli, args = fakeGluster(t, string(readTestdata(t, "version.txt")), "", 0)
	if v, err := cli.Version(context.Background()); err != nil || v != "10.3" {
		t.Errorf("Version = %q, %v", v, err)
	}
	if got := readArgs(t, args); !reflect.DeepEqual(got, []string{"--glusterd-sock=/x/gd.sock", "--version"}) {
		t.Errorf("Version args %q", got)
	}

	cli, _ = fakeGluster(t, string(readTestdata(t, "getwd.txt")), "", 0)
	if wd, err := cli.Workdir(context.Background()); err != nil || !strings.HasSuffix(wd, "/n1/glusterd") {
		t.Errorf("Workdir = %q, %v", wd, err)
	}

	cli, _ = fakeGluster(t, string(readTestdata(t, "pool-list.xml")), "", 0)
	if u, err := cli.LocalUUID(context.Background()); err != nil || u != strings.TrimPrefix(strings.TrimSpace(string(readTestdata(t, "uuid-get.txt"))), "UUID: ") {
		t.Errorf("LocalUUID = %q, %v", u, err)
	}
}

func TestCLIFailureWithExitZero(t *testing.T) {
	cli, _ := fakeGluster(t, string(readTestdata(t, "error-volume-info-missing.xml")), "", 0)
	_, err := cli.VolumeInfo(context.Background(), "missing")
	var ce *CLIError
	if !errors.As(err, &ce) {
		t.Fatalf("error %v, want *CLIError", err)
	}
	want := CLIError{Op: "volume info missing", ExitCode: 0, OpRet: -1, OpErrno: 30806, Message: "Volume does not exist"}
	if *ce != want {
		t.Errorf("%+v, want %+v", *ce, want)
	}
	if got := err.Error(); got != "gluster volume info missing: Volume does not exist (opRet -1, opErrno 30806)" {
		t.Errorf("message %q", got)
	}
}

func TestCLIExitStatus(t *testing.T) {
	cli, _ := fakeGluster(t, "Connection failed. Please check if gluster daemon is operational.\n", "", 1)
	_, err := cli.Peers(context.Background())
	var ce *CLIError
	if !errors.As(err, &ce) || ce.ExitCode != 1 || ce.Message != "Connection failed. Please check if gluster daemon is operational." {
		t.Errorf("error %#v", err)
	}

	cli, _ = fakeGluster(t, "", "Another transaction is in progress. Please try again after some time.\n", 2)
	_, err = cli.Run(context.Background(), "volume", "set", "v", "k", "v")
	if !errors.As(err, &ce) || ce.ExitCode != 2 || !errors.Is(err, ErrLocked) {
		t.Errorf("error %#v, want ErrLocked", err)
	}

	// A non-zero exit is a failure even when the XML says opRet 0.
	cli, _ = fakeGluster(t, string(readTestdata(t, "peer-status.xml")), "oops\n", 1)
	if _, err := cli.Peers(context.Background()); !errors.As(err, &ce) || ce.Message != "oops" {
		t.Errorf("error %#v", err)
	}

	cli = &CLI{Command: []string{filepath.Join(t.TempDir(), "no-such-gluster")}}
	if _, err := cli.Peers(context.Background()); err == nil || errors.As(err, &ce) {
		t.Errorf("missing binary: %v", err)
	}
}

func TestCLIGarbageOutput(t *testing.T) {
	cli, _ := fakeGluster(t, "<cliOutput><opRet>0</opRet><volInfo>", "", 0)
	if _, err := cli.VolumeInfo(context.Background(), ""); err == nil || !strings.Contains(err.Error(), "invalid XML") {
		t.Errorf("error %v", err)
	}
	cli, _ = fakeGluster(t, "", "", 0)
	if _, err := cli.VolumeInfo(context.Background(), ""); err == nil || !strings.Contains(err.Error(), "empty") {
		t.Errorf("error %v", err)
	}
}

func TestCLIStatusOfStoppedVolume(t *testing.T) {
	cli, _ := fakeGluster(t, string(readTestdata(t, "error-volume-status-stopped-detail.xml")), "", 0)
	st, err := cli.VolumeStatusDetail(context.Background(), "stopped")
	if err != nil || len(st) != 0 {
		t.Errorf("= %v, %v; want no bricks and no error", st, err)
	}
	cli, _ = fakeGluster(t, string(readTestdata(t, "error-volume-status-missing-detail.xml")), "", 0)
	if _, err := cli.VolumeStatusDetail(context.Background(), "missing"); err == nil {
		t.Error("missing volume: no error")
	}
}
