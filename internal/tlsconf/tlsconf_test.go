package tlsconf_test

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/berth-project/berth/internal/tlsconf"
	"github.com/berth-project/berth/internal/tlsconf/tlstest"
)

// serve runs an HTTPS server with cfg on loopback and returns its URL.
func serve(t *testing.T, cfg *tls.Config) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			name := ""
			if r.TLS != nil && len(r.TLS.PeerCertificates) > 0 {
				name = r.TLS.PeerCertificates[0].Subject.CommonName
			}
			_, _ = io.WriteString(w, "hello "+name)
		}),
		ReadHeaderTimeout: 5 * time.Second,
		ErrorLog:          log.New(io.Discard, "", 0),
	}
	go func() { _ = srv.Serve(tls.NewListener(l, cfg)) }()
	t.Cleanup(func() { _ = srv.Close() })
	return "https://" + l.Addr().String()
}

func get(client *http.Client, url string) (string, error) {
	resp, err := client.Get(url)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return string(b), err
}

func clientFor(cfg *tls.Config) *http.Client {
	return &http.Client{Transport: &http.Transport{TLSClientConfig: cfg}, Timeout: 10 * time.Second}
}

func TestServer_TrustedAndUntrustedClients(t *testing.T) {
	ca := tlstest.NewCA(t, "berth test CA")
	cert, key := ca.Server(t, "server")
	cfg, err := tlsconf.Files{Cert: cert, Key: key}.Server()
	if err != nil {
		t.Fatal(err)
	}
	url := serve(t, cfg)

	ccfg, err := tlsconf.Client(ca.File)
	if err != nil {
		t.Fatal(err)
	}
	if body, err := get(clientFor(ccfg), url); err != nil || body != "hello " {
		t.Fatalf("client trusting the CA: %q %v", body, err)
	}
	// The system CAs do not know the test CA.
	_, err = get(clientFor(nil), url)
	var unknown x509.UnknownAuthorityError
	if !errors.As(err, &unknown) {
		t.Fatalf("client not trusting the CA: err %v, want an unknown authority", err)
	}
	// Another CA does not do either.
	other := tlstest.NewCA(t, "other CA")
	ocfg, _ := tlsconf.Client(other.File)
	if _, err := get(clientFor(ocfg), url); !errors.As(err, &unknown) {
		t.Fatalf("client trusting another CA: err %v, want an unknown authority", err)
	}
	// Plain HTTP to the TLS port is not served (Go answers 400).
	if body, err := get(http.DefaultClient, "http://"+strings.TrimPrefix(url, "https://")); err == nil && strings.HasPrefix(body, "hello") {
		t.Fatal("plain HTTP to the TLS port was served")
	}
}

func TestServer_ClientCertificates(t *testing.T) {
	ca := tlstest.NewCA(t, "berth test CA")
	cert, key := ca.Server(t, "server")
	cfg, err := tlsconf.Files{Cert: cert, Key: key, ClientCA: ca.File}.Server()
	if err != nil {
		t.Fatal(err)
	}
	url := serve(t, cfg)
	ccfg, _ := tlsconf.Client(ca.File)
	if _, err := get(clientFor(ccfg), url); err == nil {
		t.Fatal("a client without a certificate was served")
	}
	ccert, ckey := ca.Client(t, "operator")
	pair, err := tls.LoadX509KeyPair(ccert, ckey)
	if err != nil {
		t.Fatal(err)
	}
	ccfg.Certificates = []tls.Certificate{pair}
	if body, err := get(clientFor(ccfg), url); err != nil || body != "hello operator" {
		t.Fatalf("client with a certificate: %q %v", body, err)
	}
	// A certificate from another CA is refused.
	other := tlstest.NewCA(t, "other CA")
	ocert, okey := other.Client(t, "intruder")
	opair, _ := tls.LoadX509KeyPair(ocert, okey)
	ccfg.Certificates = []tls.Certificate{opair}
	if _, err := get(clientFor(ccfg), url); err == nil {
		t.Fatal("a client certificate of another CA was accepted")
	}
}

func TestServer_ReloadsRenewedCertificate(t *testing.T) {
	ca := tlstest.NewCA(t, "berth test CA")
	cert1, key1 := ca.Server(t, "first")
	dir := t.TempDir()
	cert, key := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	copyFile(t, cert1, cert)
	copyFile(t, key1, key)
	cfg, err := tlsconf.Files{Cert: cert, Key: key}.Server()
	if err != nil {
		t.Fatal(err)
	}
	url := serve(t, cfg)
	ccfg, _ := tlsconf.Client(ca.File)
	served := func() string {
		t.Helper()
		tr := &http.Transport{TLSClientConfig: ccfg.Clone(), DisableKeepAlives: true}
		resp, err := (&http.Client{Transport: tr, Timeout: 10 * time.Second}).Get(url)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.TLS.PeerCertificates[0].Subject.CommonName
	}
	if got := served(); got != "first" {
		t.Fatalf("served %q, want first", got)
	}
	cert2, key2 := ca.Server(t, "second")
	copyFile(t, cert2, cert)
	copyFile(t, key2, key)
	// A different size or time marks the change; make sure of the time.
	later := time.Now().Add(time.Minute)
	for _, f := range []string{cert, key} {
		if err := os.Chtimes(f, later, later); err != nil {
			t.Fatal(err)
		}
	}
	if got := served(); got != "second" {
		t.Fatalf("after renewal served %q, want second", got)
	}
	// A half-written renewal keeps the last good certificate.
	if err := os.WriteFile(key, []byte("not a key"), 0o600); err != nil {
		t.Fatal(err)
	}
	if got := served(); got != "second" {
		t.Fatalf("with a broken key file served %q, want second", got)
	}
}

func TestServer_BadInput(t *testing.T) {
	ca := tlstest.NewCA(t, "berth test CA")
	cert, key := ca.Server(t, "server")
	_, otherKey := ca.Server(t, "other")
	if cfg, err := (tlsconf.Files{}).Server(); cfg != nil || err != nil {
		t.Fatalf("no files: %v %v, want nil nil", cfg, err)
	}
	for name, f := range map[string]tlsconf.Files{
		"cert only":         {Cert: cert},
		"key only":          {Key: key},
		"client CA only":    {ClientCA: ca.File},
		"missing cert":      {Cert: cert + ".missing", Key: key},
		"key of other cert": {Cert: cert, Key: otherKey},
		"key as cert":       {Cert: key, Key: key},
		"bad client CA":     {Cert: cert, Key: key, ClientCA: key},
	} {
		if cfg, err := f.Server(); err == nil || cfg != nil {
			t.Errorf("%s: got a configuration", name)
		}
	}
	if _, err := (tlsconf.Files{Cert: cert}).Server(); !errors.Is(err, tlsconf.ErrIncomplete) {
		t.Errorf("cert only: %v, want ErrIncomplete", err)
	}
	for _, f := range []string{"", cert + ".missing", key} {
		if _, err := tlsconf.Client(f); err == nil {
			t.Errorf("Client(%q): no error", f)
		}
	}
	if opts, err := tlsconf.NATSOptions(""); opts != nil || err != nil {
		t.Errorf("NATSOptions(\"\"): %v %v", opts, err)
	}
	if _, err := tlsconf.NATSOptions(key); err == nil {
		t.Error("NATSOptions(a key file): no error")
	}
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, b, 0o600); err != nil {
		t.Fatal(err)
	}
}
