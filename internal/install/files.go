package install

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"io/fs"
	"path"
	"strings"
	"text/template"

	"github.com/glusterbus/glusterbus/dist"
)

// BusName is the name the daemon owns.
const BusName = "org.storaged.Storaged"

// CockpitPackage is the name of the Cockpit package, the page's folder.
const CockpitPackage = "glusterbus"

// UnitName is the systemd unit.
const UnitName = "glusterbus.service"

// Layout is where install puts each file, as paths on the installed system
// (without the root of a staged install).
type Layout struct {
	Binary     string // the glusterbus binary
	Unit       string // the systemd unit
	BusPolicy  string // the D-Bus system bus policy
	Activation string // the D-Bus activation file
	Polkit     string // the polkit action
	Cockpit    string // the directory of the Cockpit page
	Config     string // glusterbus's configuration
	Manifest   string // what install wrote, with checksums
}

// LayoutFor returns where an install with prefix puts its files:
//
//   - the binary in <prefix>/bin;
//   - the unit in <prefix>/lib/systemd/system for /usr and /usr/local,
//     which systemd reads and which leave /etc/systemd/system to the admin's
//     own units and overrides; for any other prefix, which systemd does not
//     read, in /etc/systemd/system;
//   - the bus policy in /usr/share/dbus-1/system.d for /usr, else in
//     /etc/dbus-1/system.d (the bus reads no other directory);
//   - the activation file in /usr/share/dbus-1/system-services for /usr,
//     else in /usr/local/share/dbus-1/system-services (likewise);
//   - the polkit action in /usr/share/polkit-1/actions whatever the prefix:
//     polkit before release 126 (Debian 12 has 122) reads actions from there
//     only;
//   - the Cockpit page in <prefix>/share/cockpit/glusterbus (Cockpit reads
//     /usr/share/cockpit and /usr/local/share/cockpit, or the cockpit
//     folder of any directory in XDG_DATA_DIRS);
//   - the configuration in /etc/glusterbus, the manifest in
//     /var/lib/glusterbus.
func LayoutFor(prefix string) Layout {
	prefix = path.Clean(prefix)
	unitDir := "/etc/systemd/system"
	busDir := "/etc/dbus-1/system.d"
	share := "/usr/local/share"
	switch prefix {
	case "/usr":
		unitDir = "/usr/lib/systemd/system"
		busDir = "/usr/share/dbus-1/system.d"
		share = "/usr/share"
	case "/usr/local":
		unitDir = "/usr/local/lib/systemd/system"
	}
	return Layout{
		Binary:     path.Join(prefix, "bin", "glusterbus"),
		Unit:       path.Join(unitDir, UnitName),
		BusPolicy:  path.Join(busDir, BusName+".conf"),
		Activation: path.Join(share, "dbus-1", "system-services", BusName+".service"),
		Polkit:     "/usr/share/polkit-1/actions/org.storaged.Storaged.glusterfs.policy",
		Cockpit:    path.Join(prefix, "share", "cockpit", CockpitPackage),
		Config:     "/etc/glusterbus/glusterbus.conf",
		Manifest:   "/var/lib/glusterbus/install-manifest.json",
	}
}

var templates = template.Must(template.New("").Funcs(template.FuncMap{
	"xml": func(s string) string {
		var b strings.Builder
		_ = xml.EscapeText(&b, []byte(s))
		return b.String()
	},
}).ParseFS(dist.Files, "*.in"))

func execute(name string, data any) []byte {
	var b bytes.Buffer
	if err := templates.ExecuteTemplate(&b, name, data); err != nil {
		panic(fmt.Sprintf("dist/%s: %v", name, err)) // the templates are ours and tested
	}
	return b.Bytes()
}

// SystemdUnit is glusterbus.service for the binary at the given path.
func SystemdUnit(binary string) []byte {
	return execute("glusterbus.service.in", struct{ Binary string }{binary})
}

// BusPolicy is the D-Bus system bus policy: root owns the name; everyone may
// introspect, read properties and managed objects, ping, and read the event
// journal; root and members of group (none if group is "") may also call
// the methods that change GlusterFS; nothing else is allowed.
func BusPolicy(group string) []byte {
	return execute("org.storaged.Storaged.conf.in", struct{ Group string }{group})
}

// ActivationFile is the D-Bus activation file that starts the unit.
func ActivationFile(binary string) []byte {
	return execute("org.storaged.Storaged.service.in", struct{ Binary string }{binary})
}

// PolkitPolicy is the polkit action file defining
// org.storaged.Storaged.glusterfs.manage-glusterfs.
func PolkitPolicy() []byte {
	b, err := dist.Files.ReadFile("org.storaged.Storaged.glusterfs.policy")
	if err != nil {
		panic(err)
	}
	return b
}

// ConfigFile is the configuration install writes when there is none: it
// names the managing group ("" for root only).
func ConfigFile(group string) []byte {
	q, _ := json.Marshal(group)
	return fmt.Appendf(nil, "{\"manage_group\": %s}\n", q)
}

// CockpitFile is one file of the Cockpit page.
type CockpitFile struct {
	Name string // relative to the page's directory
	Data []byte
}

// CockpitFiles are the files of the Cockpit page, in lexical order.
func CockpitFiles() []CockpitFile {
	var files []CockpitFile
	err := fs.WalkDir(dist.Cockpit, "cockpit", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := dist.Cockpit.ReadFile(p)
		files = append(files, CockpitFile{Name: strings.TrimPrefix(p, "cockpit/"), Data: data})
		return err
	})
	if err != nil {
		panic(err) // embedded, and read in the tests
	}
	return files
}
