package testenv

import (
	"errors"
	"fmt"
	"net"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
)

// TestClientClosedConn: a read on a connection this side closed is retried;
// a connection the peer closed, or any other error, is not.
func TestClientClosedConn(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			close(accepted)
			return
		}
		accepted <- c
	}()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	peer := <-accepted
	if peer == nil {
		t.Fatal("accept failed")
	}
	// The peer closes: the read ends with io.EOF, not retried.
	_ = peer.Close()
	_, peerErr := c.Read(make([]byte, 1))
	// This side closes: the read fails with net.ErrClosed, retried.
	_ = c.Close()
	_, ownErr := c.Read(make([]byte, 1))
	for _, tc := range []struct {
		err  error
		want aws.Ternary
	}{
		{fmt.Errorf("deserialization failed: %w", ownErr), aws.TrueTernary},
		{peerErr, aws.FalseTernary},
		{errors.New("use of closed network connection"), aws.FalseTernary},
	} {
		if got := ClientClosedConn(tc.err); got != tc.want {
			t.Errorf("ClientClosedConn(%v) = %v, want %v", tc.err, got, tc.want)
		}
	}
}
