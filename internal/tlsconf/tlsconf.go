package tlsconf

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
)

// Files are the PEM files of a TLS server.
type Files struct {
	// Cert is the certificate chain (leaf first) and Key its private key.
	Cert, Key string
	// ClientCA, when set, makes the server require client certificates
	// that chain to a CA in this file.
	ClientCA string
}

// Enabled reports whether TLS was asked for (a certificate or a key given).
func (f Files) Enabled() bool { return f.Cert != "" || f.Key != "" }

// ErrIncomplete is returned when only one of a certificate and its key is
// given.
var ErrIncomplete = errors.New("a TLS certificate needs its key, and a key its certificate")

// Server loads f into a server configuration (TLS 1.2 or later). It returns
// nil, nil when f is not Enabled. The files are read now, so that a bad one
// stops the start, and again at a handshake after either changed.
func (f Files) Server() (*tls.Config, error) {
	if !f.Enabled() {
		if f.ClientCA != "" {
			return nil, fmt.Errorf("client CA %s without a server certificate: %w", f.ClientCA, ErrIncomplete)
		}
		return nil, nil
	}
	if f.Cert == "" || f.Key == "" {
		return nil, ErrIncomplete
	}
	kp := &keyPair{cert: f.Cert, key: f.Key}
	if _, err := kp.get(); err != nil {
		return nil, err
	}
	cfg := &tls.Config{
		MinVersion: tls.VersionTLS12,
		GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) {
			return kp.get()
		},
	}
	if f.ClientCA != "" {
		pool, err := loadPool(f.ClientCA)
		if err != nil {
			return nil, err
		}
		cfg.ClientCAs = pool
		cfg.ClientAuth = tls.RequireAndVerifyClientCert
	}
	return cfg, nil
}

// Client returns a client configuration that trusts only the CAs in caFile
// (TLS 1.2 or later).
func Client(caFile string) (*tls.Config, error) {
	pool, err := loadPool(caFile)
	if err != nil {
		return nil, err
	}
	return &tls.Config{MinVersion: tls.VersionTLS12, RootCAs: pool}, nil
}

// NATSOptions returns the options of a NATS connection that must use TLS
// and verify the server against the CAs in caFile (read again at each
// connect, so a replaced CA file is picked up on reconnect). It returns
// none for an empty caFile: the connection then uses TLS only when the URL
// says tls:// or the server requires it, verified against the system CAs.
func NATSOptions(caFile string) ([]nats.Option, error) {
	if caFile == "" {
		return nil, nil
	}
	if _, err := loadPool(caFile); err != nil {
		return nil, err
	}
	return []nats.Option{nats.RootCAs(caFile)}, nil
}

// loadPool reads the PEM certificates of file into a pool.
func loadPool(file string) (*x509.CertPool, error) {
	pem, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("CA file: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("CA file %s: no PEM certificate in it", file)
	}
	return pool, nil
}

// keyPair is a certificate and key read from files, read again when either
// file's size or modification time changes.
type keyPair struct {
	cert, key string

	mu      sync.Mutex
	stamp   [2]fileStamp
	current *tls.Certificate
}

type fileStamp struct {
	size int64
	mod  time.Time
}

// get returns the current certificate. When the files cannot be read (a
// renewal half done), the last good one is kept.
func (kp *keyPair) get() (*tls.Certificate, error) {
	kp.mu.Lock()
	defer kp.mu.Unlock()
	var now [2]fileStamp
	for i, name := range []string{kp.cert, kp.key} {
		fi, err := os.Stat(name)
		if err != nil {
			if kp.current != nil {
				return kp.current, nil
			}
			return nil, fmt.Errorf("TLS certificate: %w", err)
		}
		now[i] = fileStamp{fi.Size(), fi.ModTime()}
	}
	if kp.current != nil && now == kp.stamp {
		return kp.current, nil
	}
	c, err := tls.LoadX509KeyPair(kp.cert, kp.key)
	if err != nil {
		if kp.current != nil {
			return kp.current, nil
		}
		return nil, fmt.Errorf("TLS certificate %s and key %s: %w", kp.cert, kp.key, err)
	}
	kp.current, kp.stamp = &c, now
	return kp.current, nil
}
