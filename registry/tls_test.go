package registry_test

import (
	"context"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/ecr"
	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/validate"

	"github.com/berth-project/berth/internal/testenv"
	"github.com/berth-project/berth/internal/tlsconf"
	"github.com/berth-project/berth/internal/tlsconf/tlstest"
	"github.com/berth-project/berth/registry"
)

// TestRegistry_TLS: a registry given a certificate serves the distribution
// API over HTTPS and says so in GetAuthorizationToken's proxyEndpoint and
// in its challenge. go-containerregistry trusting the CA pushes and pulls
// an image with the token; a client that does not trust it fails.
func TestRegistry_TLS(t *testing.T) {
	env := testenv.New(t)
	ca := tlstest.NewCA(t, "berth test CA")
	cert, key := ca.Server(t, "registry")
	cfg, err := tlsconf.Files{Cert: cert, Key: key}.Server()
	if err != nil {
		t.Fatal(err)
	}
	reg, err := registry.New(registry.Config{Region: testenv.Region, Account: testenv.Account, CreateOnPush: true, TLS: cfg}, env.NC, env.JS)
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	host := l.Addr().String()
	env.Go(t, "registry", func(ctx context.Context) error { return reg.Serve(ctx, l) })
	select {
	case <-reg.Ready():
	case <-time.After(30 * time.Second):
		t.Fatal("registry did not start")
	}

	out, err := env.ECR().GetAuthorizationToken(t.Context(), &ecr.GetAuthorizationTokenInput{})
	if err != nil || len(out.AuthorizationData) != 1 {
		t.Fatalf("GetAuthorizationToken: %v %+v", err, out)
	}
	ad := out.AuthorizationData[0]
	if got := aws.ToString(ad.ProxyEndpoint); got != "https://"+host {
		t.Fatalf("proxyEndpoint %q, want https://%s", got, host)
	}
	raw, err := base64.StdEncoding.DecodeString(aws.ToString(ad.AuthorizationToken))
	if err != nil {
		t.Fatal(err)
	}
	user, password, _ := strings.Cut(string(raw), ":")

	ccfg, err := tlsconf.Client(ca.File)
	if err != nil {
		t.Fatal(err)
	}
	tr := &http.Transport{TLSClientConfig: ccfg}
	resp, err := (&http.Client{Transport: tr}).Get("https://" + host + "/v2/")
	if err != nil {
		t.Fatalf("GET /v2/ over HTTPS: %v", err)
	}
	resp.Body.Close()
	wantChallenge := `Basic realm="https://` + host + `/",service="ecr.amazonaws.com"`
	if resp.StatusCode != http.StatusUnauthorized || resp.Header.Get("WWW-Authenticate") != wantChallenge {
		t.Fatalf("GET /v2/: %s, WWW-Authenticate %q, want 401 and %q", resp.Status, resp.Header.Get("WWW-Authenticate"), wantChallenge)
	}

	auth := remote.WithAuth(authn.FromConfig(authn.AuthConfig{Username: user, Password: password}))
	img, err := random.Image(1<<20, 2)
	if err != nil {
		t.Fatal(err)
	}
	ref, err := name.ParseReference(host + "/tls/image:v1") // not name.Insecure: https only
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(ref, img, auth, remote.WithTransport(tr)); err != nil {
		t.Fatalf("push over HTTPS: %v", err)
	}
	got, err := remote.Image(ref, auth, remote.WithTransport(tr))
	if err != nil {
		t.Fatalf("pull over HTTPS: %v", err)
	}
	if err := validate.Image(got); err != nil {
		t.Fatalf("pulled image: %v", err)
	}
	wantDigest, _ := img.Digest()
	if d, _ := got.Digest(); d != wantDigest {
		t.Fatalf("digest %s, want %s", d, wantDigest)
	}

	// Without the CA the handshake fails.
	_, err = remote.Image(ref, auth)
	var unknown x509.UnknownAuthorityError
	if !errors.As(err, &unknown) {
		t.Fatalf("pull not trusting the CA: %v, want an unknown authority error", err)
	}
}
