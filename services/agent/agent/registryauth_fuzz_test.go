package agent

import (
	"strings"
	"testing"
)

// FuzzImageHost: any image reference yields a registry host or "" (never a
// panic), and a host never contains a path separator or whitespace.
func FuzzImageHost(f *testing.F) {
	for _, s := range []string{
		"busybox", "busybox:latest", "127.0.0.1:5000/hello:v1", "localhost:5000/team/app@sha256:" + strings.Repeat("a", 64),
		"123456789012.dkr.ecr.us-east-1.localhost:5000/app", "docker.io/library/httpd:2.4", "UPPER/case", "::", "/", "",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, image string) {
		host := imageHost(image)
		if strings.ContainsAny(host, "/ \t\n") {
			t.Fatalf("imageHost(%q) = %q", image, host)
		}
	})
}
