package gluster

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
)

// HealBrick is one brick's line of `heal VOL info summary`.
type HealBrick struct {
	Host, Path, HostUUID string
	Connected            bool
	Total                uint64 // every entry of the brick's index
	Pending              uint64 // waiting for heal, not in split-brain
	SplitBrain           uint64
	PossiblyHealing      uint64 // locked by a heal in progress
}

// HealSummary runs glfsheal's `info-summary` for a volume: every brick's
// entries pending heal, in split-brain and possibly healing. It takes no
// glusterd lock (glfsheal is a client of the volume, not a glusterd
// transaction), but it looks at every entry of every brick's index: its
// cost grows with the entries, tens of seconds at 100k. Run it rarely,
// bounded by ctx.
//
// The gluster CLI runs glfsheal without passing its --glusterd-sock on; a
// CLI whose Command names a socket runs glfsheal itself with that socket.
func (c *CLI) HealSummary(ctx context.Context, volume string) ([]HealBrick, error) {
	if !validVolumeName(volume) {
		return nil, fmt.Errorf("heal info summary: invalid volume name %q", volume)
	}
	timeout := c.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var argv []string
	if sock := c.glusterdSocket(); sock != "" {
		bin, err := glfsheal()
		if err != nil {
			return nil, err
		}
		argv = []string{bin, volume, "info-summary", "--xml", "glusterd-sock", sock}
	} else {
		argv = append(slices.Clone(c.Command), "volume", "heal", volume, "info", "summary", "--xml", "--mode=script")
		if len(c.Command) == 0 {
			argv = append([]string{"gluster"}, argv...)
		}
	}
	out, err := run(ctx, argv, "volume heal "+volume+" info summary")
	if err != nil {
		return nil, err
	}
	return ParseHealSummary(out)
}

// validVolumeName guards the argument list: a volume name as glusterd
// accepts it never starts with "-" nor holds a space.
func validVolumeName(s string) bool {
	return s != "" && !strings.HasPrefix(s, "-") && !strings.ContainsAny(s, " \t\n/")
}

// glusterdSocket is the socket the CLI's Command names, if any.
func (c *CLI) glusterdSocket() string {
	for _, a := range c.Command {
		if s, ok := strings.CutPrefix(a, "--glusterd-sock="); ok {
			return s
		}
	}
	return ""
}

// glfshealPaths are where distributions install glfsheal (GLFSHEAL_PREFIX,
// the package's libexec directory).
var glfshealPaths = []string{
	"/usr/lib/x86_64-linux-gnu/glusterfs/glfsheal",
	"/usr/lib/aarch64-linux-gnu/glusterfs/glfsheal",
	"/usr/libexec/glusterfs/glfsheal",
	"/usr/lib/glusterfs/glfsheal",
	"/usr/local/libexec/glusterfs/glfsheal",
}

func glfsheal() (string, error) {
	for _, p := range glfshealPaths {
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	return "", errors.New("heal info summary: glfsheal not found")
}

// ParseHealSummary parses glfsheal's `info-summary --xml` output
// (glfsh_xml_output in heal/src/glfs-heal.c). A successful document
// without <healInfo> is an error.
func ParseHealSummary(data []byte) ([]HealBrick, error) {
	var doc struct {
		HealInfo *struct {
			Bricks []struct {
				HostUUID        string `xml:"hostUuid,attr"`
				Name            string `xml:"name"`
				Status          string `xml:"status"`
				Total           string `xml:"totalNumberOfEntries"`
				Pending         string `xml:"numberOfEntriesInHealPending"`
				SplitBrain      string `xml:"numberOfEntriesInSplitBrain"`
				PossiblyHealing string `xml:"numberOfEntriesPossiblyHealing"`
			} `xml:"bricks>brick"`
		} `xml:"healInfo"`
	}
	if err := decode(data, &doc); err != nil {
		return nil, err
	}
	if doc.HealInfo == nil {
		return nil, errors.New("gluster: heal info output has no <healInfo>")
	}
	out := make([]HealBrick, 0, len(doc.HealInfo.Bricks))
	for _, x := range doc.HealInfo.Bricks {
		b := HealBrick{HostUUID: text(x.HostUUID), Connected: text(x.Status) == "Connected",
			Total: atou64(x.Total), Pending: atou64(x.Pending), SplitBrain: atou64(x.SplitBrain),
			PossiblyHealing: atou64(x.PossiblyHealing)}
		b.Host, b.Path = SplitBrickName(text(x.Name))
		if b.Path == "" {
			return nil, errors.New("gluster: heal info output has a brick without a name")
		}
		out = append(out, b)
	}
	return out, nil
}
