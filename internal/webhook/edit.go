package webhook

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
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
		if i := find(obj, w.URL); i >= 0 && string(bytes.TrimSpace(obj[i].raw)) != "null" {
			return nil, fmt.Errorf("%w: %s", ErrExists, redactURL(w.URL))
		}
		raw := encodeWebhook(nil, w)
		if i := find(obj, w.URL); i >= 0 {
			obj[i].raw = raw
			return obj, nil
		}
		return append(obj, member{w.URL, raw}), nil
	})
}

// Modify changes a configured webhook, as gluster-eventsapi webhook-mod
// does: only what c sets changes, and keys of the webhook's object that
// glusterbus does not know are kept. A webhook stored as a bare token
// string becomes an object. It fails with ErrNotFound if the URL is not
// configured, and with ErrInvalid for unusable settings.
func Modify(path, u string, c Change) error {
	return edit(path, func(obj []member) ([]member, error) {
		i := find(obj, u)
		if i < 0 || string(bytes.TrimSpace(obj[i].raw)) == "null" {
			return nil, fmt.Errorf("%w: %s", ErrNotFound, redactURL(u))
		}
		w, err := decodeWebhook(u, obj[i].raw)
		if errors.Is(err, ErrMalformed) {
			return nil, err
		}
		// A webhook made unusable by its settings may be repaired here.
		w.URL = u
		if c.Token != nil && *c.Token != "" {
			w.Token = *c.Token
		}
		if c.ClearToken {
			w.Token = ""
		}
		if c.Secret != nil && *c.Secret != "" {
			w.Secret = *c.Secret
		}
		if c.ClearSecret {
			w.Secret = ""
		}
		if c.Events != nil {
			w.Events = *c.Events
		}
		if c.Volumes != nil {
			w.Volumes = *c.Volumes
		}
		if c.Sources != nil {
			w.Sources = *c.Sources
		}
		if c.NoVerify != nil {
			w.NoVerify = *c.NoVerify
		}
		if c.CAFile != nil {
			w.CAFile = *c.CAFile
		}
		if c.Timeout != nil {
			w.Timeout = *c.Timeout
		}
		if err := validate(&w); err != nil {
			return nil, err
		}
		var keep []member
		if raw := bytes.TrimSpace(obj[i].raw); len(raw) > 0 && raw[0] == '{' {
			keep, _ = parseObject(raw) // decodeWebhook parsed it already
		}
		obj[i].raw = encodeWebhook(keep, w)
		return obj, nil
	})
}

// Delete removes a webhook, as gluster-eventsapi webhook-del does. It fails
// with ErrNotFound if the URL is not configured.
func Delete(path, u string) error {
	return edit(path, func(obj []member) ([]member, error) {
		i := find(obj, u)
		if i < 0 || string(bytes.TrimSpace(obj[i].raw)) == "null" {
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
// style: token, secret, then the extension, then the keys of keep that are
// none of those, unchanged.
func encodeWebhook(keep []member, w Webhook) json.RawMessage {
	x := extension{
		Events: w.Events, Volumes: w.Volumes, Sources: w.Sources,
		NoVerify: w.NoVerify, CAFile: w.CAFile, Timeout: w.Timeout.Seconds(),
	}
	out := []member{
		{"token", pyjson.AppendString(nil, w.Token)},
		{"secret", pyjson.AppendString(nil, w.Secret)},
	}
	if !x.empty() {
		out = append(out, member{ExtensionKey, encodeExtension(&x)})
	}
	for _, m := range keep {
		if m.key != "token" && m.key != "secret" && m.key != ExtensionKey {
			out = append(out, m)
		}
	}
	return encodeObject(nil, out)
}

func encodeExtension(x *extension) []byte {
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
	return encodeObject(nil, out)
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
