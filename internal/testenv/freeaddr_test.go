package testenv_test

import (
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/berth-project/berth/internal/testenv"
)

// TestFreeAddr: a loopback address that can be listened on, with a port
// below the kernel's ephemeral range when that range is known.
func TestFreeAddr(t *testing.T) {
	low := 0
	if b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range"); err == nil {
		low, _ = strconv.Atoi(strings.Fields(string(b))[0])
	}
	for range 20 {
		addr := testenv.FreeAddr(t)
		ap, err := netip.ParseAddrPort(addr)
		if err != nil || !ap.Addr().IsLoopback() {
			t.Fatalf("FreeAddr = %q, want a loopback address", addr)
		}
		if low > 11000 && int(ap.Port()) >= low {
			t.Fatalf("port %d is in the ephemeral range from %d", ap.Port(), low)
		}
		l, err := net.Listen("tcp", addr)
		if err != nil {
			t.Fatalf("listen on %s: %v", addr, err)
		}
		l.Close()
	}
}
