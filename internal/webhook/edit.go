package webhook

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"syscall"
	"time"

	"github.com/glusterbus/glusterbus/internal/atomicfile"
	"github.com/glusterbus/glusterbus/internal/pyjson"
)

// LockTimeout bounds how long Add, Modify and Delete wait for another
// process to release the webhooks file.
var LockTimeout = 30 * time.Second

// ErrLockTimeout reports that the webhooks file stayed locked.
var ErrLockTimeout = errors.New("timed out waiting for the lock on the webhooks file")

// Change is what Modify changes; nil fields stay as they are. As with
// gluster-eventsapi webhook-mod, an empty Token or Secret means "not
// given"; ClearToken and ClearSecret set them to "".
type Change struct {
	Token, Secret *string

	Events, Volumes, Sources *[]string // a pointer to an empty slice clears the filter
	NoVerify                 *bool
	CAFile                   *string
	Timeout                  *time.Duration
	Batch                    *int    // 0 turns batching off
	Delivery                 *string // "" removes it (local delivery)

	ClearToken, ClearSecret bool // set the token or secret to ""
}

// List reads the webhooks file; it is Load under the name of the CLI verb.
func List(path string) (*Config, error) { return Load(path) }

// Add adds a webhook, as gluster-eventsapi webhook-add does (which writes
// {"token": ..., "secret": ...} with "" for what is not given), plus the
// "glusterbus" settings when w has any. It fails with ErrExists if the URL
// is configured already, and with ErrInvalid for unusable settings.
func Add(path string, w Webhook) error {
	if err := validate(&w); err != nil {
		return err
	}
	return edit(path, func(obj []member) ([]member, error) {
		if i := find(obj, w.URL); i >= 0 && !isNull(obj[i].raw) {
			return nil, fmt.Errorf("%w: %s", ErrExists, redactURL(w.URL))
		}
		raw := encodeWebhook(w)
		if i := find(obj, w.URL); i >= 0 {
			obj[i].raw = raw
			return obj, nil
		}
		return append(obj, member{w.URL, raw}), nil
	})
}

// Modify changes a configured webhook, as gluster-eventsapi webhook-mod
// does: only what c sets changes; the other members of the webhook's
// object and of its "glusterbus" object are written back as they were
// read, also those glusterbus does not know. A webhook stored as a bare
// token string becomes an object. It fails with ErrNotFound if the URL is
// not configured, and with ErrInvalid, changing nothing, if the result
// would not be usable: settings the file got wrong (an unknown key, a
// wrong type, a value out of range) must be fixed in the file or replaced
// by values c sets, never dropped, for dropping a filter would widen it.
func Modify(path, u string, c Change) error {
	return edit(path, func(obj []member) ([]member, error) {
		i := find(obj, u)
		if i < 0 || isNull(obj[i].raw) {
			return nil, fmt.Errorf("%w: %s", ErrNotFound, redactURL(u))
		}
		fields, err := webhookFields(u, obj[i].raw)
		if err != nil {
			return nil, err
		}
		token, secret, err := credentials(u, fields)
		if err != nil {
			return nil, err
		}
		if c.Token != nil && *c.Token != "" {
			token = *c.Token
		}
		if c.ClearToken {
			token = ""
		}
		if c.Secret != nil && *c.Secret != "" {
			secret = *c.Secret
		}
		if c.ClearSecret {
			secret = ""
		}
		var settings []member
		if j := find(fields, ExtensionKey); j >= 0 && !isNull(fields[j].raw) {
			if settings, err = parseObject(fields[j].raw); err != nil {
				return nil, fmt.Errorf("%w: %s: %q must be an object; fix it in the file", ErrInvalid, redactURL(u), ExtensionKey)
			}
		}
		for _, m := range c.settings() {
			settings = setSetting(settings, m)
		}
		raw := webhookObject(fields, token, secret, settings)
		if _, err := decodeWebhook(u, raw); err != nil {
			return nil, fmt.Errorf("%w (nothing changed: fix it in the file, or give the value that replaces it)", err)
		}
		obj[i].raw = raw
		return obj, nil
	})
}

// settings returns the "glusterbus" members c changes, each with its new
// value, or with a nil value to remove it.
func (c *Change) settings() []member {
	var out []member
	put := func(key string, given bool, x extension) {
		if !given {
			return
		}
		m := member{key: key}
		if l := extensionMembers(&x); len(l) == 1 {
			m.raw = l[0].raw
		}
		out = append(out, m)
	}
	put("events", c.Events != nil, extension{Events: deref(c.Events)})
	put("volumes", c.Volumes != nil, extension{Volumes: deref(c.Volumes)})
	put("sources", c.Sources != nil, extension{Sources: deref(c.Sources)})
	put("no_verify", c.NoVerify != nil, extension{NoVerify: deref(c.NoVerify)})
	put("ca_file", c.CAFile != nil, extension{CAFile: deref(c.CAFile)})
	put("timeout", c.Timeout != nil, extension{Timeout: deref(c.Timeout).Seconds()})
	put("batch", c.Batch != nil, extension{Batch: deref(c.Batch)})
	put("delivery", c.Delivery != nil, extension{Delivery: deref(c.Delivery)})
	return out
}

func deref[T any](p *T) T {
	var v T
	if p != nil {
		v = *p
	}
	return v
}

// settingKeys is the order in which the "glusterbus" settings are written.
var settingKeys = []string{"events", "volumes", "sources", "no_verify", "ca_file", "timeout", "batch"}

// setSetting replaces the member of settings named m.key by m, removes it
// if m has no value, or adds m before the first known setting that is
// written after it.
func setSetting(settings []member, m member) []member {
	if i := find(settings, m.key); i >= 0 {
		if m.raw == nil {
			return slices.Delete(settings, i, i+1)
		}
		settings[i] = m
		return settings
	}
	if m.raw == nil {
		return settings
	}
	rank := slices.Index(settingKeys, m.key)
	at := slices.IndexFunc(settings, func(s member) bool { return slices.Index(settingKeys, s.key) > rank })
	if at < 0 {
		return append(settings, m)
	}
	return slices.Insert(settings, at, m)
}

// Delete removes a webhook, as gluster-eventsapi webhook-del does. It fails
// with ErrNotFound if the URL is not configured.
func Delete(path, u string) error {
	return edit(path, func(obj []member) ([]member, error) {
		i := find(obj, u)
		if i < 0 || isNull(obj[i].raw) {
			return nil, fmt.Errorf("%w: %s", ErrNotFound, redactURL(u))
		}
		return append(obj[:i], obj[i+1:]...), nil
	})
}

func find(obj []member, key string) int {
	for i, m := range obj {
		if m.key == key {
			return i
		}
	}
	return -1
}

// encodeWebhook writes w as the value of its key, in gluster-eventsapi's
// style: token, secret, then the extension unless it is empty.
func encodeWebhook(w Webhook) json.RawMessage {
	x := extension{
		Events: w.Events, Volumes: w.Volumes, Sources: w.Sources,
		NoVerify: w.NoVerify, CAFile: w.CAFile, Timeout: w.Timeout.Seconds(),
		Batch: w.Batch, Delivery: w.Delivery,
	}
	return webhookObject(nil, w.Token, w.Secret, extensionMembers(&x))
}

// webhookObject writes a webhook's value: token, secret, the "glusterbus"
// settings unless there are none, then the members of keep that are none
// of those, unchanged.
func webhookObject(keep []member, token, secret string, settings []member) json.RawMessage {
	out := []member{
		{"token", pyjson.AppendString(nil, token)},
		{"secret", pyjson.AppendString(nil, secret)},
	}
	if len(settings) > 0 {
		out = append(out, member{ExtensionKey, encodeObject(nil, settings)})
	}
	for _, m := range keep {
		if m.key != "token" && m.key != "secret" && m.key != ExtensionKey {
			out = append(out, m)
		}
	}
	return encodeObject(nil, out)
}

// extensionMembers returns the settings of x that are not their zero
// value, in the order of settingKeys.
func extensionMembers(x *extension) []member {
	var out []member
	list := func(key string, l []string) {
		if len(l) == 0 {
			return
		}
		b := []byte{'['}
		for i, s := range l {
			if i > 0 {
				b = append(b, ", "...)
			}
			b = pyjson.AppendString(b, s)
		}
		out = append(out, member{key, append(b, ']')})
	}
	list("events", x.Events)
	list("volumes", x.Volumes)
	list("sources", x.Sources)
	if x.NoVerify {
		out = append(out, member{"no_verify", []byte("true")})
	}
	if x.CAFile != "" {
		out = append(out, member{"ca_file", pyjson.AppendString(nil, x.CAFile)})
	}
	if x.Timeout != 0 {
		out = append(out, member{"timeout", strconv.AppendFloat(nil, x.Timeout, 'f', -1, 64)})
	}
	if x.Delivery != "" {
		out = append(out, member{"delivery", pyjson.AppendString(nil, x.Delivery)})
	}
	if x.Batch != 0 {
		out = append(out, member{"batch", strconv.AppendInt(nil, int64(x.Batch), 10)})
	}
	return out
}

// encodeObject writes members with Python's default separators.
func encodeObject(b []byte, obj []member) []byte {
	b = append(b, '{')
	for i, m := range obj {
		if i > 0 {
			b = append(b, ", "...)
		}
		b = pyjson.AppendString(b, m.key)
		b = append(b, ": "...)
		b = append(b, bytes.TrimSpace(m.raw)...)
	}
	return append(b, '}')
}

// edit runs fn on the file's object under the locks and replaces the file
// with the result.
func edit(path string, fn func([]member) ([]member, error)) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	unlock, err := lock(path)
	if err != nil {
		return err
	}
	defer unlock()

	mode := os.FileMode(0o600) // the file holds credentials
	data, err := os.ReadFile(path)
	switch {
	case errors.Is(err, os.ErrNotExist):
		data = []byte("{}")
	case err != nil:
		return err
	default:
		if fi, err := os.Stat(path); err == nil {
			mode = fi.Mode().Perm()
		}
	}
	obj, err := parseObject(data)
	if err != nil {
		return fmt.Errorf("%w: %s: %v; repair or remove it first", ErrMalformed, path, err)
	}
	if obj, err = fn(obj); err != nil {
		return err
	}
	return atomicfile.Write(path, append(encodeObject(nil, obj), '\n'), mode)
}

// LockPath is the lock file Add, Modify and Delete use for path.
func LockPath(path string) string { return path + ".lock" }

// lock takes the lock file's flock and then, for gluster-eventsapi, the
// flock of the webhooks file itself as its LockedOpen takes it: lock the
// open file, then make sure the path still names it (the holder before us
// may have renamed a new file over it), else start again on the new one.
func lock(path string) (unlock func(), err error) {
	deadline := time.Now().Add(LockTimeout)
	lf, err := os.OpenFile(LockPath(path), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, err
	}
	if err := flock(lf, deadline); err != nil {
		lf.Close()
		return nil, err
	}
	for {
		f, err := os.Open(path)
		if errors.Is(err, os.ErrNotExist) {
			return func() { lf.Close() }, nil
		}
		if err != nil {
			lf.Close()
			return nil, err
		}
		if err := flock(f, deadline); err != nil {
			f.Close()
			lf.Close()
			return nil, err
		}
		held, err1 := f.Stat()
		now, err2 := os.Stat(path)
		if err1 == nil && err2 == nil && os.SameFile(held, now) {
			return func() { f.Close(); lf.Close() }, nil
		}
		f.Close()
		if err2 != nil && !errors.Is(err2, os.ErrNotExist) {
			lf.Close()
			return nil, err2
		}
	}
}

// flock takes an exclusive flock on f, polling until deadline.
func flock(f *os.File, deadline time.Time) error {
	wait := time.Millisecond
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		switch {
		case err == nil:
			return nil
		case errors.Is(err, syscall.EINTR):
			continue
		case !errors.Is(err, syscall.EWOULDBLOCK):
			return fmt.Errorf("locking %s: %w", f.Name(), err)
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%w: %s", ErrLockTimeout, f.Name())
		}
		time.Sleep(wait/2 + rand.N(wait/2+1))
		wait = min(2*wait, 20*time.Millisecond)
	}
}
