// Package cockpittest tests the Cockpit page (dist/cockpit) the way a
// person sees it: a real GlusterFS cluster, the daemon on a private bus,
// cockpit-ws serving the page and a headless Chromium showing it.
//
// It holds tests only.
package cockpittest
