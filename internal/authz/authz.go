// Package authz decides whether a D-Bus caller may change the cluster, the
// way UDisks2 does: root always may; where polkit runs, it is asked for the
// action org.storaged.Storaged.glusterfs.manage-glusterfs; where it does not,
// members of the configured group may too. When the bus cannot tell whether
// polkit runs, the caller is denied.
package authz

import (
	"context"
	"errors"
	"fmt"
	"os/user"
	"slices"
	"strconv"
	"sync"

	"github.com/godbus/dbus/v5"
)

// ActionManage is the polkit action for every changing method.
const ActionManage = "org.storaged.Storaged.glusterfs.manage-glusterfs"

const polkitName = "org.freedesktop.PolicyKit1"

// ErrNotAuthorized is returned (wrapped) when the caller may not act.
var ErrNotAuthorized = errors.New("not authorized")

// Checker answers authorization questions for callers on one connection.
type Checker struct {
	conn *dbus.Conn
	mu   sync.Mutex
	// group is the name of the group whose members may change things when
	// polkit is not running; "" allows root only.
	group string
}

// New returns a Checker for callers on conn.
func New(conn *dbus.Conn, group string) *Checker {
	return &Checker{conn: conn, group: group}
}

// SetConn changes the connection callers are asked about (after a
// reconnect).
func (c *Checker) SetConn(conn *dbus.Conn) {
	c.mu.Lock()
	c.conn = conn
	c.mu.Unlock()
}

func (c *Checker) bus() *dbus.Conn {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.conn
}

// SetGroup changes the managing group (configuration reload).
func (c *Checker) SetGroup(group string) {
	c.mu.Lock()
	c.group = group
	c.mu.Unlock()
}

// Check returns nil if sender may perform the changing action. interactive
// lets polkit ask the user for a password (the caller's
// auth.no_user_interaction option turns it off).
func (c *Checker) Check(ctx context.Context, sender string, interactive bool) error {
	creds, err := c.credentials(ctx, sender)
	if err != nil {
		return fmt.Errorf("%w: cannot identify the caller: %v", ErrNotAuthorized, err)
	}
	if creds.uid == 0 {
		return nil
	}
	runs, err := c.polkitRuns(ctx)
	if err != nil {
		// The group is only for hosts without polkit: falling back to it
		// on a transient error could allow what polkit's rules deny.
		return fmt.Errorf("%w: cannot tell whether polkit runs, so denied: %v", ErrNotAuthorized, err)
	}
	if runs {
		return c.askPolkit(ctx, sender, interactive)
	}
	c.mu.Lock()
	group := c.group
	c.mu.Unlock()
	if group != "" && creds.inGroup(group) {
		return nil
	}
	if group == "" {
		return fmt.Errorf("%w: only root may change GlusterFS through glusterbus", ErrNotAuthorized)
	}
	return fmt.Errorf("%w: only root and members of group %q may change GlusterFS through glusterbus", ErrNotAuthorized, group)
}

type credentials struct {
	uid  uint32
	gids []uint32
	// haveGids says the bus told the groups; otherwise they are looked up.
	haveGids bool
}

// credentials asks the bus who the sender is.
func (c *Checker) credentials(ctx context.Context, sender string) (credentials, error) {
	var m map[string]dbus.Variant
	err := c.bus().BusObject().CallWithContext(ctx, "org.freedesktop.DBus.GetConnectionCredentials", 0, sender).Store(&m)
	if err != nil {
		return credentials{}, err
	}
	var cr credentials
	uid, ok := m["UnixUserID"].Value().(uint32)
	if !ok {
		return credentials{}, errors.New("the bus did not tell the caller's user")
	}
	cr.uid = uid
	if gids, ok := m["UnixGroupIDs"].Value().([]uint32); ok {
		cr.gids, cr.haveGids = gids, true
	}
	return cr, nil
}

// inGroup says whether the caller is a member of the named group.
func (cr credentials) inGroup(name string) bool {
	g, err := user.LookupGroup(name)
	if err != nil {
		return false
	}
	gid64, err := strconv.ParseUint(g.Gid, 10, 32)
	if err != nil {
		return false
	}
	gid := uint32(gid64)
	if cr.haveGids {
		return slices.Contains(cr.gids, gid)
	}
	u, err := user.LookupId(strconv.FormatUint(uint64(cr.uid), 10))
	if err != nil {
		return false
	}
	ids, err := u.GroupIds()
	return err == nil && slices.Contains(ids, g.Gid)
}

// polkitRuns says whether polkit is on the bus or can be started by it; an
// error means the bus did not answer.
func (c *Checker) polkitRuns(ctx context.Context) (bool, error) {
	var has bool
	err := c.bus().BusObject().CallWithContext(ctx, "org.freedesktop.DBus.NameHasOwner", 0, polkitName).Store(&has)
	if err != nil {
		return false, fmt.Errorf("asking the bus whether %s has an owner: %w", polkitName, err)
	}
	if has {
		return true, nil
	}
	var names []string
	err = c.bus().BusObject().CallWithContext(ctx, "org.freedesktop.DBus.ListActivatableNames", 0).Store(&names)
	if err != nil {
		return false, fmt.Errorf("asking the bus whether it can start %s: %w", polkitName, err)
	}
	return slices.Contains(names, polkitName), nil
}

// polkitSubject is polkit's (sa{sv}) subject.
type polkitSubject struct {
	Kind    string
	Details map[string]dbus.Variant
}

// polkitResult is polkit's (bba{ss}) authorization result.
type polkitResult struct {
	Authorized bool
	Challenge  bool
	Details    map[string]string
}

func (c *Checker) askPolkit(ctx context.Context, sender string, interactive bool) error {
	subject := polkitSubject{"system-bus-name", map[string]dbus.Variant{"name": dbus.MakeVariant(sender)}}
	var flags uint32
	if interactive {
		flags = 1 // AllowUserInteraction
	}
	var res polkitResult
	err := c.bus().Object(polkitName, "/org/freedesktop/PolicyKit1/Authority").CallWithContext(ctx,
		"org.freedesktop.PolicyKit1.Authority.CheckAuthorization", 0,
		subject, ActionManage, map[string]string{}, flags, "").Store(&res)
	if err != nil {
		return fmt.Errorf("%w: asking polkit failed: %v", ErrNotAuthorized, err)
	}
	if !res.Authorized {
		if res.Challenge {
			return fmt.Errorf("%w: polkit requires authentication for %s (no agent answered, or auth.no_user_interaction was set)", ErrNotAuthorized, ActionManage)
		}
		return fmt.Errorf("%w: polkit denied %s", ErrNotAuthorized, ActionManage)
	}
	return nil
}
