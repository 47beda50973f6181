package webhook

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"
)

// ExtensionKey is the key, inside a webhook's object, of glusterbus's own
// settings.
const ExtensionKey = "glusterbus"

// Event sources a webhook can select.
const (
	SourceNative = "native"
	SourceDiff   = "diff"
)

// Webhook is one configured webhook.
type Webhook struct {
	URL    string
	Token  string // bearer token; ignored when Secret is set
	Secret string // HS256 key: the bearer is then a JWT

	// Filters; empty means everything. See the package documentation.
	Events  []string // names, or prefixes ending in "*"
	Volumes []string
	Sources []string // SourceNative, SourceDiff

	NoVerify bool          // do not verify the https certificate
	CAFile   string        // PEM roots to trust instead of the system's
	Timeout  time.Duration // per POST; 0 means the Deliverer's default

	// Batch, when above 0, POSTs a JSON array of up to Batch events instead
	// of one event per POST.
	Batch int

	// Delivery is DeliveryLocal ("" too) or DeliveryCluster.
	Delivery string
}

// Deliveries a webhook can ask for.
const (
	// DeliveryLocal: every node's daemon posts the events it journaled.
	DeliveryLocal = "local"
	// DeliveryCluster: the pool posts each event of the cluster stream
	// once, from whichever daemon is alive (needs serve --nats or
	// --nats-embedded).
	DeliveryCluster = "cluster"
)

// MaxBatch is the largest batch a webhook may ask for.
const MaxBatch = 1000

// Invalid is a webhook of the file that cannot be used.
type Invalid struct {
	URL string
	Err error
}

// Config is the content of a webhooks file.
type Config struct {
	Webhooks []Webhook // valid webhooks, sorted by URL
	Invalid  []Invalid // unusable ones, sorted by URL
}

// Find returns the webhook with the given URL.
func (c *Config) Find(u string) (Webhook, bool) {
	for _, w := range c.Webhooks {
		if w.URL == u {
			return w, true
		}
	}
	return Webhook{}, false
}

// Errors of Load, Add, Modify and Delete.
var (
	// ErrMalformed reports a webhooks file that is not what
	// gluster-eventsapi writes.
	ErrMalformed = errors.New("malformed webhooks file")
	// ErrExists is gluster-eventsapi's "Webhook already exists".
	ErrExists = errors.New("webhook already exists")
	// ErrNotFound is gluster-eventsapi's "Webhook does not exists".
	ErrNotFound = errors.New("webhook does not exist")
	// ErrInvalid reports unusable webhook settings.
	ErrInvalid = errors.New("invalid webhook")
)

// extension is the "glusterbus" object.
type extension struct {
	Events   []string `json:"events,omitempty"`
	Volumes  []string `json:"volumes,omitempty"`
	Sources  []string `json:"sources,omitempty"`
	NoVerify bool     `json:"no_verify,omitempty"`
	CAFile   string   `json:"ca_file,omitempty"`
	Timeout  float64  `json:"timeout,omitempty"` // seconds
	Batch    int      `json:"batch,omitempty"`
	Delivery string   `json:"delivery,omitempty"`
}

// Load reads a webhooks file. A missing file is an empty Config. Errors
// wrap ErrMalformed (the file as a whole cannot be read) or come from
// reading it; single unusable webhooks go to Config.Invalid instead.
func Load(path string) (*Config, error) {
	c, _, err := load(path)
	return c, err
}

// load is Load that also tells whether the file exists.
func load(path string) (c *Config, found bool, err error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return &Config{}, false, nil
	}
	if err != nil {
		return nil, true, err
	}
	c, err = parseConfig(data)
	return c, true, err
}

func parseConfig(data []byte) (*Config, error) {
	obj, err := parseObject(data)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	c := &Config{}
	for _, m := range obj {
		w, err := decodeWebhook(m.key, m.raw)
		switch {
		case errors.Is(err, errNull):
			// gluster-eventsapi treats a null value as no webhook.
		case errors.Is(err, ErrMalformed):
			return nil, err
		case err != nil:
			c.Invalid = append(c.Invalid, Invalid{URL: m.key, Err: err})
		default:
			c.Webhooks = append(c.Webhooks, w)
		}
	}
	slices.SortFunc(c.Webhooks, func(a, b Webhook) int { return strings.Compare(a.URL, b.URL) })
	slices.SortFunc(c.Invalid, func(a, b Invalid) int { return strings.Compare(a.URL, b.URL) })
	return c, nil
}

var errNull = errors.New("null webhook")

// decodeWebhook reads one value of the file. Errors wrapping ErrMalformed
// are about the file's shape; others make only this webhook unusable. The
// returned Webhook has its token and secret also when its settings are
// unusable.
func decodeWebhook(u string, raw json.RawMessage) (Webhook, error) {
	w := Webhook{URL: u}
	if isNull(raw) {
		return w, errNull
	}
	fields, err := webhookFields(u, raw)
	if err != nil {
		return w, err
	}
	if w.Token, w.Secret, err = credentials(u, fields); err != nil {
		return w, err
	}
	if i := find(fields, ExtensionKey); i >= 0 {
		x, err := decodeExtension(fields[i].raw)
		if err != nil {
			return w, fmt.Errorf("%w: %s: %q: %v", ErrInvalid, redactURL(u), ExtensionKey, err)
		}
		w.Events, w.Volumes, w.Sources = x.Events, x.Volumes, x.Sources
		w.NoVerify, w.CAFile = x.NoVerify, x.CAFile
		w.Timeout = time.Duration(x.Timeout * float64(time.Second))
		w.Batch = x.Batch
		w.Delivery = x.Delivery
	}
	return w, validate(&w)
}

func isNull(raw json.RawMessage) bool { return string(bytes.TrimSpace(raw)) == "null" }

// webhookFields returns the members of a webhook's value; a bare token
// string is read as {"token": <it>}.
func webhookFields(u string, raw json.RawMessage) ([]member, error) {
	raw = bytes.TrimSpace(raw)
	switch {
	case len(raw) > 0 && raw[0] == '"':
		return []member{{"token", raw}}, nil
	case len(raw) == 0 || raw[0] != '{':
		return nil, fmt.Errorf("%w: webhook %s: value must be a token string or an object", ErrMalformed, redactURL(u))
	}
	fields, err := parseObject(raw)
	if err != nil {
		return nil, fmt.Errorf("%w: webhook %s: %v", ErrMalformed, redactURL(u), err)
	}
	return fields, nil
}

// credentials reads the "token" and "secret" members; null is "".
func credentials(u string, fields []member) (token, secret string, err error) {
	for _, f := range fields {
		if f.key != "token" && f.key != "secret" {
			continue
		}
		var s *string
		if err := json.Unmarshal(f.raw, &s); err != nil {
			// Never quote the value: it is a credential.
			return "", "", fmt.Errorf("%w: webhook %s: %q must be a string or null", ErrMalformed, redactURL(u), f.key)
		}
		if s != nil && f.key == "token" {
			token = *s
		} else if s != nil {
			secret = *s
		}
	}
	return token, secret, nil
}

func decodeExtension(raw json.RawMessage) (extension, error) {
	var x extension
	if isNull(raw) {
		return x, nil
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&x); err != nil {
		return x, err
	}
	if x.Timeout < 0 || math.IsInf(x.Timeout, 0) || x.Timeout > 3600 {
		return x, errors.New("timeout must be between 0 and 3600 seconds")
	}
	if x.Batch < 0 || x.Batch > MaxBatch {
		return x, fmt.Errorf("batch must be between 0 and %d events", MaxBatch)
	}
	if x.Delivery != "" && x.Delivery != DeliveryLocal && x.Delivery != DeliveryCluster {
		return x, fmt.Errorf("delivery must be %q or %q", DeliveryLocal, DeliveryCluster)
	}
	return x, nil
}

var eventPattern = regexp.MustCompile(`^[A-Za-z0-9_]+\*?$|^\*$`)

// validate checks a webhook's URL and settings.
func validate(w *Webhook) error {
	u, err := url.Parse(w.URL)
	if err != nil {
		return fmt.Errorf("%w: URL %s: %v", ErrInvalid, redactURL(w.URL), errors.Unwrap(err))
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return fmt.Errorf("%w: URL %s: scheme must be http or https", ErrInvalid, redactURL(w.URL))
	}
	if u.Host == "" {
		return fmt.Errorf("%w: URL %s: no host", ErrInvalid, redactURL(w.URL))
	}
	if err := checkFilters(w.Events, w.Volumes, w.Sources); err != nil {
		return fmt.Errorf("%w: %s: %v", ErrInvalid, redactURL(w.URL), err)
	}
	if w.CAFile != "" && !filepath.IsAbs(w.CAFile) {
		return fmt.Errorf("%w: %s: ca_file %q is not an absolute path", ErrInvalid, redactURL(w.URL), w.CAFile)
	}
	if w.Timeout < 0 || w.Timeout > time.Hour {
		return fmt.Errorf("%w: %s: timeout must be between 0 and 3600 seconds", ErrInvalid, redactURL(w.URL))
	}
	if w.Batch < 0 || w.Batch > MaxBatch {
		return fmt.Errorf("%w: %s: batch must be between 0 and %d events", ErrInvalid, redactURL(w.URL), MaxBatch)
	}
	return nil
}

// RedactURL hides the password of a URL (user:password@) for display.
func RedactURL(s string) string { return redactURL(s) }

// redactURL hides a password in a URL for messages.
func redactURL(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		// An unparsable URL might still carry user:password@.
		if i := strings.Index(s, "@"); i >= 0 {
			if j := strings.Index(s, "://"); j >= 0 && j < i {
				return s[:j+3] + "xxxxx" + s[i:]
			}
			return "xxxxx" + s[i:]
		}
		return s
	}
	return u.Redacted()
}

// member is one key of a JSON object, in file order.
type member struct {
	key string
	raw json.RawMessage
}

// parseObject reads a JSON object, keeping its keys in order. A repeated
// key keeps its first place and takes the last value, as Python's json.load
// reads it. Anything but whitespace after the object is an error (the
// half-overwritten "{}..." files of gluster/glusterfs#3714).
func parseObject(data []byte) ([]member, error) {
	if len(bytes.TrimSpace(data)) == 0 {
		return nil, errors.New("file is empty")
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	tok, err := dec.Token()
	if err != nil {
		return nil, syntaxError(err, dec)
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return nil, errors.New("not a JSON object")
	}
	var out []member
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, syntaxError(err, dec)
		}
		key := tok.(string)
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return nil, syntaxError(err, dec)
		}
		if i := slices.IndexFunc(out, func(m member) bool { return m.key == key }); i >= 0 {
			out[i].raw = raw
			continue
		}
		out = append(out, member{key, raw})
	}
	if _, err := dec.Token(); err != nil {
		return nil, syntaxError(err, dec)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, fmt.Errorf("unexpected data after the object at offset %d", dec.InputOffset())
	}
	return out, nil
}

// syntaxError describes a decoding error by position only: the text around
// it may be a credential.
func syntaxError(err error, dec *json.Decoder) error {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return errors.New("unexpected end of file (truncated?)")
	}
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return fmt.Errorf("JSON syntax error at offset %d", se.Offset)
	}
	return fmt.Errorf("JSON error near offset %d", dec.InputOffset())
}
