// Package nativeevents receives GlusterFS's native events, the UDP
// datagrams glusterd, the CLI, bricks and clients send to glustereventsd.
//
// A datagram is "<unix-ts> <event-number> key=value;key=value...". The
// number indexes GlusterFS's event table (Name, Number, Count). Parse
// decodes one datagram, more leniently than glustereventsd; Event.Message
// and Event.Payload rebuild exactly what glustereventsd would publish for
// it, so that webhooks see the same bytes. Event.Trigger says whether an
// event implies a change of the volume or cluster state.
//
// Where the datagrams come from, as seen with GlusterFS 10.3: the CLI and
// glusterd send to localhost, which resolves to [::1], so they arrive from
// ::1; bricks, self-heal, rebalance and other client processes send to their
// volfile server's address (any of 127.0.0.0/8 on a loopback cluster, the
// node's own address otherwise), from 127.0.0.1 or that address. A Listener
// therefore binds all of IPv4 and IPv6 and by default accepts loopback
// sources and the cluster's peers only; client machines that are not peers
// (whose mounts send AFR events to their volfile server) need Config.Allow.
// A Listener checks the source first, then the source's rate, then decodes.
package nativeevents
