#!/usr/bin/python3
# Runs the installed glustereventsd as it is, with its files moved into a
# test directory: its log file, its default configuration file and its UDP
# address (loopback only) are changed before it starts. The rest of its
# paths follow "gluster system:: getwd", which the test answers.
#
# Usage: run_glustereventsd.py LOG_FILE DEFAULT_CONFIG_FILE PID_FILE
import os
import runpy
import sys

GFEVENTS = os.environ.get("GFEVENTS_DIR",
                          "/usr/lib/x86_64-linux-gnu/glusterfs/gfevents")
sys.path.insert(0, os.path.dirname(GFEVENTS))  # the gfevents package
sys.path.insert(0, GFEVENTS)  # glustereventsd's own imports

log_file, config_file, pid_file = sys.argv[1:4]

import gfevents.eventsapiconf as pkgconf  # noqa: E402
import eventsapiconf as conf  # noqa: E402

for c in (pkgconf, conf):
    c.LOG_FILE = log_file
    c.DEFAULT_CONFIG_FILE = config_file
    c.PID_FILE = pid_file
    c.SERVER_ADDRESSv4 = "127.0.0.1"
    c.SERVER_ADDRESSv6 = "::1"

sys.argv = ["glustereventsd", "-p", pid_file]
runpy.run_path(os.path.join(GFEVENTS, "glustereventsd.py"),
               run_name="__main__")
