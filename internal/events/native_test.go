package events

import (
	"reflect"
	"testing"

	"github.com/glusterbus/glusterbus/internal/nativeevents"
)

// TestFromNativeHidesSecrets: a secret option keeps its name and loses its
// value, also when the commas of values the datagram does not escape put
// the secret's name or part of its value where another option's belongs.
func TestFromNativeHidesSecrets(t *testing.T) {
	for _, tc := range []struct {
		datagram string
		want     []string // key, value, ...
	}{
		{"1 6 name=v;options=,auth.login.u1.password,pw",
			[]string{"name", "v", "option.auth.login.u1.password", HiddenValue}},
		{"1 6 name=v;options=,performance.x,on,features.TOKEN,t0k,cluster.y,off",
			[]string{"name", "v", "option.performance.x", "on", "option.features.TOKEN", HiddenValue}},
		// The password "p,w" runs into the next pair.
		{"1 6 name=v;options=,auth.login.u1.password,p,w,performance.x,on",
			[]string{"name", "v", "option.auth.login.u1.password", HiddenValue}},
		// auth.allow's comma shifts the secret's name into a value.
		{"1 6 name=v;options=,auth.allow,10.0.0.1,10.0.0.2,ssl.secret,pw,performance.x,on",
			[]string{"name", "v", "option.auth.allow", "10.0.0.1", "option.10.0.0.2", "", "option.ssl.secret", HiddenValue}},
		// A path is a value, not a shifted name.
		{"1 6 name=v;options=,ssl.ca-list,/etc/ssl/secret/ca.pem",
			[]string{"name", "v", "option.ssl.ca-list", "/etc/ssl/secret/ca.pem"}},
		// No secret: kept as parsed, the odd last name included.
		{"1 6 name=v;options=,auth.allow,10.0.0.1,10.0.0.2",
			[]string{"name", "v", "option.auth.allow", "10.0.0.1", "option.10.0.0.2", ""}},
		{"1 6 name=v;options=,username,u,password,p",
			[]string{"name", "v", "option.username", HiddenValue}},
		// Outside VOLUME_SET's options, a field named like a secret.
		{"1 97 client_uid=x;password=pw;brick_path=/b",
			[]string{"client_uid", "x", "password", HiddenValue, "brick_path", "/b"}},
		{"1 7 name=v;option=auth.login.u1.password",
			[]string{"name", "v", "option", "auth.login.u1.password"}},
	} {
		ev, err := nativeevents.Parse([]byte(tc.datagram))
		if err != nil {
			t.Fatal(err)
		}
		if got := FromNative(ev, "node", pathOf).Fields; !reflect.DeepEqual(got, fields(tc.want...)) {
			t.Errorf("%q:\n got %v\nwant %v", tc.datagram, got, fields(tc.want...))
		}
	}
}
