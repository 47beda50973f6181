package gluster

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

func TestMemoParsesEachOutputOnce(t *testing.T) {
	var m memo[Volume]
	calls := 0
	parse := func(out []byte) ([]Volume, error) {
		calls++
		return ParseVolumeInfo(out)
	}
	first, err := os.ReadFile(filepath.Join("testdata", "volume-info-all.xml"))
	if err != nil {
		t.Fatal(err)
	}
	a, err := m.parse(first, parse)
	if err != nil || len(a) == 0 {
		t.Fatalf("parse: %d volumes, %v", len(a), err)
	}
	b, err := m.parse(append([]byte(nil), first...), parse)
	if err != nil || calls != 1 || &a[0] != &b[0] {
		t.Fatalf("same output parsed again: calls=%d err=%v", calls, err)
	}

	if _, err := m.parse([]byte("<cliOutput><opRet>"), parse); err == nil || calls != 2 {
		t.Fatalf("other output: calls=%d err=%v", calls, err)
	}
	// A failed parse does not replace what the last good output gave.
	c, err := m.parse(first, parse)
	if err != nil || calls != 2 || &c[0] != &a[0] {
		t.Fatalf("after a failure: calls=%d err=%v", calls, err)
	}

	changed := append([]byte(nil), first...)
	changed = append(changed, ' ')
	d, err := m.parse(changed, parse)
	if err != nil || calls != 3 || &d[0] == &a[0] {
		t.Fatalf("changed output not parsed: calls=%d err=%v", calls, err)
	}

	failing := func([]byte) ([]Volume, error) { return nil, errors.New("boom") }
	if _, err := m.parse([]byte("x"), failing); err == nil {
		t.Fatal("error lost")
	}
}
