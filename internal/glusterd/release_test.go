package glusterd

import (
	"os"
	"strings"
	"testing"
)

func TestReleaseFromMaps(t *testing.T) {
	maps, err := os.ReadFile("testdata/glusterd-10.3.maps")
	if err != nil {
		t.Fatal(err)
	}
	if got, err := ReleaseFromMaps(maps); got != "10.3" || err != nil {
		t.Errorf("the map of a 10.3 glusterd: %q, %v", got, err)
	}
	lib64 := "7f00-7f01 r-xp 00000000 fd:00 1 /usr/lib64/glusterfs/11.1/xlator/mgmt/glusterd.so\n"
	if got, err := ReleaseFromMaps([]byte(lib64)); got != "11.1" || err != nil {
		t.Errorf("a lib64 install: %q, %v", got, err)
	}
	mixed := string(maps) + strings.ReplaceAll(lib64, "11.1", "9.6")
	if got, err := ReleaseFromMaps([]byte(mixed)); err == nil {
		t.Errorf("translators of two releases gave %q", got)
	}
	for _, notGlusterd := range []string{"", "7f00-7f01 r-xp 00000000 fd:00 1 /usr/lib/x86_64-linux-gnu/libc.so.6\n",
		"7f00-7f01 r-xp 0 fd:00 1 /usr/lib/glusterfs/xlator/x.so\n"} {
		if got, err := ReleaseFromMaps([]byte(notGlusterd)); err == nil {
			t.Errorf("%q gave %q", notGlusterd, got)
		}
	}
}
