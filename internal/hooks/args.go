package hooks

import (
	"fmt"
	"slices"
	"strings"
)

// Request is what a hook asks the daemon to do.
type Request struct {
	Op     string // one of Ops
	Volume string // the volume to refresh; "" means reload everything
}

// maxVolumeName is well above the longest volume name glusterd accepts.
const maxVolumeName = 1024

// volnameFlag is how glusterd passes the volume's name to every hook.
const volnameFlag = "--volname="

// ParseArgs parses the arguments glusterd passes to the hook of op, e.g.
// "--volname=gv0 --first=no --version=1 --volume-op=start --gd-workdir=DIR".
// Only --volname matters; every other argument is ignored. Without
// --volname, and for "--volname=all" (what "gluster volume set all" passes),
// the request reloads everything. An unknown op, an empty or invalid volume
// name, or two different --volname arguments are errors. The name is only
// checked, never interpreted.
func ParseArgs(op string, args []string) (Request, error) {
	if !slices.Contains(Ops, op) {
		return Request{}, fmt.Errorf("hooks: unknown operation %q (want one of %s)", op, strings.Join(Ops, ", "))
	}
	r := Request{Op: op}
	found := false
	for _, a := range args {
		name, ok := strings.CutPrefix(a, volnameFlag)
		if !ok {
			continue
		}
		if err := checkVolumeName(name); err != nil {
			return Request{}, err
		}
		if found && name != r.Volume {
			return Request{}, fmt.Errorf("hooks: two different volume names %q and %q", r.Volume, name)
		}
		r.Volume, found = name, true
	}
	if r.Volume == "all" {
		// Not a volume: gluster reserves the name for cluster-wide options.
		r.Volume = ""
	}
	return r, nil
}

// checkVolumeName accepts the names gluster allows: letters, digits, '-' and
// '_'.
func checkVolumeName(name string) error {
	if name == "" {
		return fmt.Errorf("hooks: empty volume name in %s", volnameFlag)
	}
	if len(name) > maxVolumeName {
		return fmt.Errorf("hooks: volume name of %d bytes is longer than %d", len(name), maxVolumeName)
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_' {
			continue
		}
		return fmt.Errorf("hooks: invalid volume name %q: byte %#x at %d (only letters, digits, '-' and '_')", name, c, i)
	}
	return nil
}
