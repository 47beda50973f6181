// Package gluster runs the gluster command line tool and parses its --xml
// output into plain Go values. It knows nothing about D-Bus.
package gluster
