package glusterd

import (
	"bytes"
	"strconv"
	"testing"
	"unsafe"
)

// TestSharedStrings: the same bytes give one string, up to the bounds;
// longer ones and those past the count are made each time.
func TestSharedStrings(t *testing.T) {
	var none *sharedStrings
	if got := none.of([]byte("a")); got != "a" {
		t.Fatalf("nil table: %q", got)
	}
	s := &sharedStrings{}
	a, b := s.of([]byte("volume0.name")), s.of([]byte("volume0.name"))
	if a != "volume0.name" || unsafe.StringData(a) != unsafe.StringData(b) {
		t.Fatal("the same bytes made two strings")
	}
	long := bytes.Repeat([]byte("x"), maxSharedLen+1)
	if x, y := s.of(long), s.of(long); x != string(long) || unsafe.StringData(x) == unsafe.StringData(y) {
		t.Fatal("a string longer than the bound is shared")
	}
	for i := range maxSharedStrings + 10 {
		s.of([]byte(strconv.Itoa(i)))
	}
	if len(s.m) != maxSharedStrings {
		t.Fatalf("%d strings kept, at most %d", len(s.m), maxSharedStrings)
	}
}
