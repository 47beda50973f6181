package testbed

import (
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
)

// Accounts creates a system group and a user whose supplementary group it
// is, both named after prefix and this process, and removes them when the
// test ends. Needs root.
func Accounts(t *testing.T, prefix string) (group, user string) {
	t.Helper()
	group = fmt.Sprintf("%s%d", prefix, os.Getpid())
	user = group + "u"
	run := func(args ...string) {
		t.Helper()
		if out, err := exec.Command(args[0], args[1:]...).CombinedOutput(); err != nil {
			t.Fatalf("%s: %v: %s", strings.Join(args, " "), err, out)
		}
	}
	run("groupadd", "--system", group)
	t.Cleanup(func() { _ = exec.Command("groupdel", group).Run() })
	run("useradd", "--system", "--no-create-home", "--user-group", "--groups", group, "--shell", "/usr/sbin/nologin", user)
	t.Cleanup(func() {
		_ = exec.Command("userdel", user).Run()
		_ = exec.Command("groupdel", user).Run() // where userdel leaves the user's group
	})
	return group, user
}
