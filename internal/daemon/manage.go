package daemon

import (
	"context"
	"errors"
	"strconv"
	"strings"

	"github.com/godbus/dbus/v5"

	"github.com/glusterbus/glusterbus/internal/authz"
	"github.com/glusterbus/glusterbus/internal/exporter"
	"github.com/glusterbus/glusterbus/internal/gluster"
	"github.com/glusterbus/glusterbus/internal/refresh"
	"github.com/glusterbus/glusterbus/internal/state"
)

// manager implements the methods that change the cluster. Each runs the
// gluster CLI, then re-reads the volume, so it answers once the bus shows
// the change.
type manager struct {
	cli  *gluster.CLI
	ref  *refresh.Refresher
	auth *authz.Checker
	sem  chan struct{} // admin commands at once
}

// manageConcurrency bounds the gluster CLI processes of the methods that
// change the cluster. It is apart from the refresher's bound, so that admin
// commands do not queue behind reads.
const manageConcurrency = 2

type options = map[string]dbus.Variant

// register adds every method of Manager.GlusterFS and Volume.
func (m *manager) register(exp *exporter.Exporter) {
	m.sem = make(chan struct{}, manageConcurrency)
	opts := options{}
	handle := func(iface, name string, in []any, fn func(ctx context.Context, c *exporter.Call, opts options) ([]any, error)) {
		exp.Handle(iface, name, &exporter.Method{In: append(in, opts), Handle: func(c *exporter.Call) ([]any, error) {
			ctx, cancel := context.WithTimeout(c.Ctx, callTimeout)
			defer cancel()
			o := c.Args[len(c.Args)-1].(options)
			if err := m.authorize(ctx, c, o); err != nil {
				return nil, err
			}
			out, err := fn(ctx, c, o)
			return out, glusterError(err)
		}})
	}
	handle(exporter.ManagerInterface, "Reload", nil, func(ctx context.Context, _ *exporter.Call, _ options) ([]any, error) {
		return nil, m.ref.Reload(ctx)
	})
	handle(exporter.ManagerInterface, "RefreshVolume", []any{""}, func(ctx context.Context, c *exporter.Call, _ options) ([]any, error) {
		name := c.Args[0].(string)
		if err := checkWord("volume name", name); err != nil {
			return nil, err
		}
		return nil, m.ref.Volume(ctx, name)
	})
	handle(exporter.ManagerInterface, "VolumeCreate", []any{"", []string{}}, m.volumeCreate)
	vol := func(name string, in []any, args func(vol string, c *exporter.Call, o options) ([]string, error)) {
		handle(exporter.VolumeInterface, name, in, func(ctx context.Context, c *exporter.Call, o options) ([]any, error) {
			volume, ok := exporter.VolumeName(c.Path)
			if !ok {
				return nil, exporter.Errorf(exporter.ErrorNotFound, "no volume at %s", c.Path)
			}
			cmd, err := args(volume, c, o)
			if err != nil {
				return nil, err
			}
			_, err = m.run(ctx, volume, cmd...) // gone: deleted, and it was never on the bus
			return nil, err
		})
	}
	vol("Start", nil, func(v string, _ *exporter.Call, o options) ([]string, error) {
		return withForce([]string{"volume", "start", v}, o)
	})
	vol("Stop", nil, func(v string, _ *exporter.Call, o options) ([]string, error) {
		return withForce([]string{"volume", "stop", v}, o)
	})
	vol("Delete", nil, func(v string, _ *exporter.Call, _ options) ([]string, error) {
		return []string{"volume", "delete", v}, nil
	})
	vol("SetOption", []any{"", ""}, func(v string, c *exporter.Call, _ options) ([]string, error) {
		key, value := c.Args[0].(string), c.Args[1].(string)
		if err := checkWord("option key", key); err != nil {
			return nil, err
		}
		if strings.HasPrefix(value, "-") && !isNumber(value) {
			return nil, exporter.Errorf(exporter.ErrorInvalidArgument, "option value %q starts with '-'", value)
		}
		return []string{"volume", "set", v, key, value}, nil
	})
	vol("ResetOption", []any{""}, func(v string, c *exporter.Call, _ options) ([]string, error) {
		key := c.Args[0].(string)
		if err := checkWord("option key", key); err != nil {
			return nil, err
		}
		return []string{"volume", "reset", v, key}, nil
	})
	vol("AddBrick", []any{[]string{}}, func(v string, c *exporter.Call, o options) ([]string, error) {
		args := []string{"volume", "add-brick", v}
		args, err := appendCounts(args, o, "replica", "arbiter")
		if err != nil {
			return nil, err
		}
		if args, err = appendBricks(args, c.Args[0].([]string)); err != nil {
			return nil, err
		}
		return withForce(args, o)
	})
}

func (m *manager) volumeCreate(ctx context.Context, c *exporter.Call, o options) ([]any, error) {
	name, bricks := c.Args[0].(string), c.Args[1].([]string)
	if err := checkWord("volume name", name); err != nil {
		return nil, err
	}
	args, err := appendCounts([]string{"volume", "create", name}, o, "replica", "arbiter", "disperse", "redundancy")
	if err != nil {
		return nil, err
	}
	if v, ok := o["transport"]; ok {
		t, ok := v.Value().(string)
		if !ok || (t != "tcp" && t != "rdma" && t != "tcp,rdma") {
			return nil, exporter.Errorf(exporter.ErrorInvalidArgument, "transport must be tcp, rdma or tcp,rdma")
		}
		args = append(args, "transport", t)
	}
	if args, err = appendBricks(args, bricks); err != nil {
		return nil, err
	}
	if args, err = withForce(args, o); err != nil {
		return nil, err
	}
	gone, err := m.run(ctx, name, args...)
	if err != nil {
		return nil, err
	}
	if gone {
		return nil, exporter.Errorf(exporter.ErrorFailed, "gluster created volume %s but does not list it", name)
	}
	return []any{exporter.Path(state.Ref{Kind: state.KindVolume, Key: name})}, nil
}

// run runs a gluster command on a volume, then re-reads the volume; gone
// says the re-read found no such volume.
func (m *manager) run(ctx context.Context, volume string, args ...string) (gone bool, err error) {
	if err := m.command(ctx, volume, args...); err != nil {
		return false, err
	}
	err = m.ref.Volume(ctx, volume)
	if errors.Is(err, gluster.ErrNoVolume) {
		return true, nil
	}
	return false, err
}

// command runs a gluster command within the bound of admin commands, with
// the volume marked busy from before it starts until it has ended, so that
// no `volume status` of the daemon's takes the volume's lock meanwhile.
func (m *manager) command(ctx context.Context, volume string, args ...string) error {
	select {
	case m.sem <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	defer func() { <-m.sem }()
	done, err := m.ref.Busy(ctx, volume)
	if err != nil {
		return err
	}
	defer done()
	_, err = m.cli.Run(ctx, args...)
	return err
}

func (m *manager) authorize(ctx context.Context, c *exporter.Call, o options) error {
	interactive := true
	if v, ok := o["auth.no_user_interaction"]; ok {
		if b, ok := v.Value().(bool); ok && b {
			interactive = false
		}
	}
	if err := m.auth.Check(ctx, string(c.Sender), interactive); err != nil {
		return &exporter.Error{Name: exporter.ErrorNotAuthorized, Msg: err.Error(), Err: err}
	}
	return nil
}

// checkWord refuses what the gluster CLI could take for something else: an
// empty word, a leading '-' (an option), or control characters and spaces.
func checkWord(what, s string) error {
	switch {
	case s == "":
		return exporter.Errorf(exporter.ErrorInvalidArgument, "empty %s", what)
	case strings.HasPrefix(s, "-"):
		return exporter.Errorf(exporter.ErrorInvalidArgument, "%s %q starts with '-'", what, s)
	case strings.ContainsFunc(s, func(r rune) bool { return r <= ' ' || r == 0x7f }):
		return exporter.Errorf(exporter.ErrorInvalidArgument, "%s %q contains spaces or control characters", what, s)
	}
	return nil
}

func appendBricks(args, bricks []string) ([]string, error) {
	if len(bricks) == 0 {
		return nil, exporter.Errorf(exporter.ErrorInvalidArgument, "no bricks given")
	}
	for _, b := range bricks {
		if err := checkWord("brick", b); err != nil {
			return nil, err
		}
		if host, path, ok := strings.Cut(b, ":"); !ok || host == "" || !strings.HasPrefix(path, "/") {
			return nil, exporter.Errorf(exporter.ErrorInvalidArgument, "brick %q is not host:/path", b)
		}
	}
	return append(args, bricks...), nil
}

// appendCounts adds "key N" for each of keys present in the options as a
// positive integer of any D-Bus integer type.
func appendCounts(args []string, o options, keys ...string) ([]string, error) {
	for _, k := range keys {
		v, ok := o[k]
		if !ok {
			continue
		}
		var n uint64
		switch x := v.Value().(type) {
		case uint32:
			n = uint64(x)
		case int32:
			n = uint64(max(x, 0))
		case uint64:
			n = x
		case int64:
			n = uint64(max(x, 0))
		case uint16:
			n = uint64(x)
		case int16:
			n = uint64(max(x, 0))
		case byte:
			n = uint64(x)
		default:
			return nil, exporter.Errorf(exporter.ErrorInvalidArgument, "option %s must be an integer", k)
		}
		if n == 0 || n > 1024 {
			return nil, exporter.Errorf(exporter.ErrorInvalidArgument, "option %s must be between 1 and 1024", k)
		}
		args = append(args, k, strconv.FormatUint(n, 10))
	}
	return args, nil
}

func withForce(args []string, o options) ([]string, error) {
	v, ok := o["force"]
	if !ok {
		return args, nil
	}
	b, ok := v.Value().(bool)
	if !ok {
		return nil, exporter.Errorf(exporter.ErrorInvalidArgument, "option force must be a boolean")
	}
	if b {
		args = append(args, "force")
	}
	return args, nil
}

func isNumber(s string) bool {
	_, err := strconv.ParseFloat(s, 64)
	return err == nil
}
