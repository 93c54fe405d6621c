package testenv

import (
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"strconv"
	"strings"
	"testing"
)

// FreeAddr returns a loopback address with a port that was free a moment
// ago. It takes the port below the kernel's range of ephemeral ports where
// it can: a port the kernel handed out for ":0" and got back is soon the
// local port of some other test's outgoing connection, and then the
// process meant to listen on it cannot.
func FreeAddr(t testing.TB) string {
	t.Helper()
	if low := ephemeralLow(); low > minFixedPort+1000 {
		for range 100 {
			l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", minFixedPort+rand.IntN(low-minFixedPort)))
			if err == nil {
				defer l.Close()
				return l.Addr().String()
			}
		}
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("testenv: free port: %v", err)
	}
	defer l.Close()
	return l.Addr().String()
}

// minFixedPort is the lowest port FreeAddr picks itself.
const minFixedPort = 10000

// ephemeralLow is the first port of the kernel's ephemeral range, or 0
// when it cannot be read.
func ephemeralLow() int {
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err != nil {
		return 0
	}
	f := strings.Fields(string(b))
	if len(f) != 2 {
		return 0
	}
	low, err := strconv.Atoi(f[0])
	if err != nil {
		return 0
	}
	return low
}
