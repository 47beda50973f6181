// Package dist holds the files that "glusterbus install" puts in place, as
// templates that internal/install fills in: the systemd unit, the D-Bus
// system bus policy and activation file, and the polkit action; and the
// Cockpit page.
package dist

import "embed"

// Files are the templates, by file name. Names ending in ".in" are
// text/template templates; the others are installed as they are.
//
//go:embed glusterbus.service.in org.storaged.Storaged.conf.in org.storaged.Storaged.service.in org.storaged.Storaged.glusterfs.policy
var Files embed.FS

// Cockpit is the Cockpit package (plain HTML, CSS and JavaScript, no build
// step), under cockpit/, installed as it is.
//
//go:embed cockpit
var Cockpit embed.FS
